package maintenance

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/immich-vault/immich-vault/crypto"
	"github.com/immich-vault/immich-vault/repo"
)

// snapAt builds an in-memory snapshot at t with a deterministic ID.
func snapAt(t time.Time, tags ...string) *repo.Snapshot {
	s := &repo.Snapshot{Time: t.UTC(), Host: "h", Paths: []string{"/p"}, Tags: tags}
	s.SetID(crypto.Hash([]byte(fmt.Sprint(t.UnixNano(), tags))))
	return s
}

// hourly returns one snapshot per hour, at minute 17, from start for n hours.
func hourly(start time.Time, n int) []*repo.Snapshot {
	out := make([]*repo.Snapshot, n)
	for i := range out {
		out[i] = snapAt(start.Add(time.Duration(i)*time.Hour + 17*time.Minute))
	}
	return out
}

func kept(ds []KeepDecision, loc *time.Location) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Snapshot.Time.In(loc).Format("2006-01-02 15:04"))
		}
	}
	sort.Strings(out)
	return out
}

func reasonsOf(ds []KeepDecision, loc *time.Location, at string) string {
	for _, d := range ds {
		if d.Snapshot.Time.In(loc).Format("2006-01-02 15:04") == at {
			return strings.Join(d.Reasons, "; ")
		}
	}
	return "<not found>"
}

func TestApplyPolicy(t *testing.T) {
	utc := time.UTC
	minus5 := time.FixedZone("UTC-5", -5*3600)
	threeYears := hourly(time.Date(2021, 1, 1, 0, 0, 0, 0, utc), 3*365*24+24) // to 2024-01-01 23:17 UTC
	fewDays := hourly(time.Date(2024, 3, 1, 10, 0, 0, 0, utc), 30)            // 03-01 10:17 .. 03-02 15:17
	forum := []*repo.Snapshot{                                                // from restic's forum example of keep-daily vs keep-within-daily
		snapAt(time.Date(2023, 5, 1, 8, 0, 0, 0, utc)),
		snapAt(time.Date(2023, 5, 2, 8, 0, 0, 0, utc)),
		snapAt(time.Date(2023, 5, 2, 11, 0, 0, 0, utc)),
		snapAt(time.Date(2023, 5, 4, 9, 0, 0, 0, utc)),
		snapAt(time.Date(2023, 5, 5, 10, 0, 0, 0, utc)),
	}
	within := []*repo.Snapshot{
		snapAt(time.Date(2024, 1, 1, 0, 0, 0, 0, utc)),  // exactly 2d before latest: out
		snapAt(time.Date(2024, 1, 1, 0, 0, 1, 0, utc)),  // 2d-1s before: in
		snapAt(time.Date(2024, 1, 3, 0, 0, 0, 0, utc)),  // latest
		snapAt(time.Date(2023, 12, 1, 0, 0, 0, 0, utc)), // out
	}
	isoWeeks := []*repo.Snapshot{
		snapAt(time.Date(2020, 12, 28, 12, 0, 0, 0, utc)), // ISO 2020-W53
		snapAt(time.Date(2021, 1, 3, 12, 0, 0, 0, utc)),   // ISO 2020-W53 too
		snapAt(time.Date(2021, 1, 4, 12, 0, 0, 0, utc)),   // ISO 2021-W01
		snapAt(time.Date(2021, 1, 10, 12, 0, 0, 0, utc)),  // ISO 2021-W01
	}
	tz := []*repo.Snapshot{ // 03:00 UTC is the previous evening at UTC-5
		snapAt(time.Date(2024, 1, 1, 20, 0, 0, 0, utc)),
		snapAt(time.Date(2024, 1, 2, 3, 0, 0, 0, utc)),
		snapAt(time.Date(2024, 1, 2, 20, 0, 0, 0, utc)),
	}
	tagged := []*repo.Snapshot{
		snapAt(time.Date(2024, 1, 1, 0, 0, 0, 0, utc), "keep", "db"),
		snapAt(time.Date(2024, 1, 2, 0, 0, 0, 0, utc), "keep"),
		snapAt(time.Date(2024, 1, 3, 0, 0, 0, 0, utc)),
	}
	tests := []struct {
		name    string
		snaps   []*repo.Snapshot
		p       Policy
		loc     *time.Location
		want    []string // kept, sorted, in loc
		wantN   int      // if want is nil: number kept
		reasons map[string]string
	}{
		{name: "last 3", snaps: fewDays, p: Policy{Last: 3}, want: []string{"2024-03-02 13:17", "2024-03-02 14:17", "2024-03-02 15:17"}},
		{name: "hourly 24 of 3 years", snaps: threeYears, p: Policy{Hourly: 24}, wantN: 24},
		{name: "daily 7 of 3 years keeps the newest of each day", snaps: threeYears, p: Policy{Daily: 7},
			want: []string{"2023-12-26 23:17", "2023-12-27 23:17", "2023-12-28 23:17", "2023-12-29 23:17", "2023-12-30 23:17", "2023-12-31 23:17", "2024-01-01 23:17"}},
		{name: "monthly 12 yearly 3", snaps: threeYears, p: Policy{Monthly: 12, Yearly: 3}, wantN: 12 + 1, // 2024 and 2023 ends are monthly too; yearly adds 2022's end
			reasons: map[string]string{"2024-01-01 23:17": "monthly snapshot; yearly snapshot", "2022-12-31 23:17": "yearly snapshot"}},
		{name: "unlimited daily", snaps: fewDays, p: Policy{Daily: Unlimited}, want: []string{"2024-03-01 23:17", "2024-03-02 15:17"}},
		{name: "counts left keep the oldest", snaps: fewDays, p: Policy{Daily: 10},
			want:    []string{"2024-03-01 10:17", "2024-03-01 23:17", "2024-03-02 15:17"},
			reasons: map[string]string{"2024-03-01 10:17": "oldest daily snapshot"}},
		{name: "keep-daily 4 (forum example)", snaps: forum, p: Policy{Daily: 4},
			want: []string{"2023-05-01 08:00", "2023-05-02 11:00", "2023-05-04 09:00", "2023-05-05 10:00"}},
		{name: "keep-within-daily 4d (forum example)", snaps: forum, p: Policy{WithinDaily: Duration{Days: 4}},
			want: []string{"2023-05-02 11:00", "2023-05-04 09:00", "2023-05-05 10:00"}},
		{name: "keep-within boundary is exclusive", snaps: within, p: Policy{Within: Duration{Days: 2}},
			want: []string{"2024-01-01 00:00", "2024-01-03 00:00"}, reasons: map[string]string{"2024-01-03 00:00": "within 2d"}},
		{name: "keep-within counts from the newest snapshot, months", snaps: within, p: Policy{Within: Duration{Months: 1}},
			want: []string{"2024-01-01 00:00", "2024-01-01 00:00", "2024-01-03 00:00"}},
		{name: "ISO weeks across the year end", snaps: isoWeeks, p: Policy{Weekly: 2}, want: []string{"2021-01-03 12:00", "2021-01-10 12:00"}},
		{name: "daily buckets in UTC", snaps: tz, p: Policy{Daily: 2}, loc: utc, want: []string{"2024-01-01 20:00", "2024-01-02 20:00"}},
		{name: "daily buckets at UTC-5", snaps: tz, p: Policy{Daily: 2}, loc: minus5, want: []string{"2024-01-01 22:00", "2024-01-02 15:00"}},
		{name: "keep-tag needs every tag of a list", snaps: tagged, p: Policy{Tags: [][]string{{"keep", "db"}}}, want: []string{"2024-01-01 00:00"}},
		{name: "keep-tag lists are alternatives", snaps: tagged, p: Policy{Tags: [][]string{{"db"}, {"keep"}}}, want: []string{"2024-01-01 00:00", "2024-01-02 00:00"}},
		{name: "hourly within 36h of 3 years", snaps: threeYears, p: Policy{WithinHourly: Duration{Hours: 36}}, wantN: 36},
		{name: "yearly within 10y keeps every year", snaps: threeYears, p: Policy{WithinYearly: Duration{Years: 10}}, wantN: 4 + 1, // 2021..2024 ends, plus the oldest
			reasons: map[string]string{"2021-01-01 00:17": "oldest yearly within 10y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := tc.loc
			if loc == nil {
				loc = utc
			}
			tc.p.Location = loc
			in := append([]*repo.Snapshot(nil), tc.snaps...)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
			ds := ApplyPolicy(in, tc.p)
			got := kept(ds, loc)
			if tc.want != nil {
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("kept %v\nwant %v", got, tc.want)
				}
			} else if len(got) != tc.wantN {
				t.Fatalf("kept %d snapshots, want %d: %v", len(got), tc.wantN, got)
			}
			for at, want := range tc.reasons {
				if r := reasonsOf(ds, loc, at); r != want {
					t.Errorf("reasons for %s = %q, want %q", at, r, want)
				}
			}
			for _, d := range ds {
				if d.Keep != (len(d.Reasons) > 0) {
					t.Fatalf("decision %v has reasons %v", d.Keep, d.Reasons)
				}
			}
		})
	}
}

func TestApplyPolicySameTimestamp(t *testing.T) {
	at := time.Date(2024, 5, 5, 12, 0, 0, 0, time.UTC)
	a, b := snapAt(at, "a"), snapAt(at, "b")
	want := a
	if b.ID().Compare(a.ID()) > 0 {
		want = b
	}
	for _, order := range [][]*repo.Snapshot{{a, b}, {b, a}} {
		for _, p := range []Policy{{Last: 1}, {Daily: 1}, {Hourly: 1}} {
			ds := ApplyPolicy(order, p)
			var k []*repo.Snapshot
			for _, d := range ds {
				if d.Keep {
					k = append(k, d.Snapshot)
				}
			}
			if len(k) != 1 || k[0] != want {
				t.Fatalf("policy %+v kept %d, not the larger ID", p, len(k))
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Duration
		err  bool
	}{
		{in: "1y2m3d4h", want: Duration{1, 2, 3, 4}},
		{in: "36h", want: Duration{Hours: 36}},
		{in: "4h2d", want: Duration{Days: 2, Hours: 4}},
		{in: "", err: true}, {in: "0d", err: true}, {in: "5", err: true}, {in: "d", err: true},
		{in: "1w", err: true}, {in: "1d1d", err: true}, {in: "-1d", err: true}, {in: "99999999999d", err: true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseDuration(%q) = %+v, %v", tc.in, got, err)
		}
		if !tc.err && got.String() == "" {
			t.Errorf("String of %q empty", tc.in)
		}
	}
}

func TestGroupBy(t *testing.T) {
	s1 := snapAt(time.Unix(1, 0), "x")
	s2 := snapAt(time.Unix(2, 0))
	s3 := snapAt(time.Unix(3, 0), "x")
	s3.Host = "other"
	for _, tc := range []struct {
		by   string
		want int
	}{{"host,paths", 2}, {"host", 2}, {"paths", 1}, {"tags", 2}, {"", 1}, {"host,paths,tags", 3}} {
		g, err := ParseGroupBy(tc.by)
		if err != nil {
			t.Fatal(err)
		}
		if keys, _ := Group([]*repo.Snapshot{s1, s2, s3}, g); len(keys) != tc.want {
			t.Errorf("group by %q: %d groups, want %d", tc.by, len(keys), tc.want)
		}
	}
	if _, err := ParseGroupBy("hosts"); err == nil {
		t.Error("unknown field accepted")
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1y2m3d4h", "36h", "", "0d", "99999999999999999999d", "1d1d", "h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d.Zero() {
			t.Fatalf("%q parsed to zero", s)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, d.String(), back, err)
		}
	})
}
