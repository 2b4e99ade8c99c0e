package pgtest

import (
	"os"
	"strings"
	"testing"
)

func TestStartAndSeed(t *testing.T) {
	c := Shared(t)
	out := c.MustExec(t, "postgres", "SELECT 40+2")
	if strings.TrimSpace(out) != "42" {
		t.Fatalf("SELECT 40+2 = %q", out)
	}
	f := SeedImmich(t, c, "immich", t.TempDir())
	got := strings.TrimSpace(c.MustExec(t, "immich", `SELECT count(*) FROM asset`))
	if got != "7" || f.Assets != 7 {
		t.Fatalf("assets: db %s, fixture %d", got, f.Assets)
	}
	// The checksum column holds the SHA-1 of the file.
	sum := strings.TrimSpace(c.MustExec(t, "immich", `SELECT encode(checksum,'hex') FROM asset WHERE "originalFileName"='IMG_0001.jpg'`))
	if len(sum) != 40 {
		t.Fatalf("checksum %q", sum)
	}
	if _, err := c.Exec("immich", "SELECT * FROM no_such_table"); err == nil {
		t.Fatal("Exec of a failing statement returned no error")
	}
}

func TestMain(m *testing.M) { os.Exit(RunMain(m)) }
