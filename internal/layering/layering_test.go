package layering

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// module is the module path; packages outside it are not checked.
const module = "github.com/immich-vault/immich-vault"

// layer classifies a package path relative to the module root. The floors,
// top to bottom (README "Layout"):
//
//	cmd → web → immich → {archiver, restorer, maintenance} → {repo, fs} → repo/data
//	repo → {repo/backend, index → pack → crypto, chunker};  ops beside, importing nothing
type layer int

const (
	layerOther       layer = iota // helpers such as internal/...: unrestricted, may not import repo
	layerCmd                      // cmd/...
	layerWeb                      // web/...: the serve command's server, above the engine and the Immich layer
	layerTools                    // bench/..., fuzz/...
	layerImmich                   // immich/...: the Immich-aware layer above the engine
	layerOps                      // ops/...: preflights, metrics textfile, run log (no engine import)
	layerTestSupport              // repo/repotest: throw-away repositories and file helpers, for tests only
	layerEngine                   // archiver, restorer, maintenance: the engine's operations
	layerRepo                     // repo: open/init/keys, blobs, uploader, snapshots, locks, prune, check, repair
	layerFS                       // fs/...: the OS layer (raw reads, lstat fields, metadata apply, restore target)
	layerData                     // repo/data: nodes, trees, their codec (below repo, beside the backends)
	layerBackend                  // repo/backend and repo/backend/...
	layerIndex                    // index/...
	layerPack                     // pack/...
	layerChunker                  // chunker/...
	layerCrypto                   // crypto/...
)

var layerNames = map[layer]string{
	layerOther: "other", layerCmd: "cmd", layerWeb: "web", layerTools: "bench/fuzz", layerImmich: "immich",
	layerOps: "ops", layerTestSupport: "repo/repotest", layerEngine: "archiver/restorer/maintenance",
	layerRepo: "repo", layerFS: "fs", layerData: "repo/data", layerBackend: "repo/backend",
	layerIndex: "index", layerPack: "pack", layerChunker: "chunker", layerCrypto: "crypto",
}

func (l layer) String() string { return layerNames[l] }

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

func classify(rel string) layer {
	switch {
	case under(rel, "cmd"):
		return layerCmd
	case under(rel, "web"):
		return layerWeb
	case under(rel, "bench"), under(rel, "fuzz"):
		return layerTools
	case under(rel, "immich"):
		return layerImmich
	case under(rel, "ops"):
		return layerOps
	case under(rel, "repo/repotest"):
		return layerTestSupport
	case under(rel, "archiver"), under(rel, "restorer"), under(rel, "maintenance"):
		return layerEngine
	case under(rel, "repo/backend"):
		return layerBackend
	case under(rel, "repo/data"):
		return layerData
	case under(rel, "repo"):
		return layerRepo
	case under(rel, "fs"):
		return layerFS
	case under(rel, "index"):
		return layerIndex
	case under(rel, "pack"):
		return layerPack
	case under(rel, "chunker"):
		return layerChunker
	case under(rel, "crypto"):
		return layerCrypto
	}
	return layerOther
}

// engine is every floor from the engine's operations down.
var engine = []layer{layerEngine, layerRepo, layerFS, layerData, layerBackend, layerIndex, layerPack, layerChunker, layerCrypto}

// mayImport lists, for each layer, the layers its packages may import (a
// package may always import packages of its own layer, e.g. repo/backend/local
// → repo/backend).
var mayImport = map[layer][]layer{
	layerCmd:         append([]layer{layerWeb, layerImmich, layerOps, layerOther}, engine...),
	layerWeb:         append([]layer{layerImmich, layerOps, layerOther}, engine...),
	layerTools:       append([]layer{layerOps, layerOther}, engine...),
	layerImmich:      append([]layer{layerOps, layerOther}, engine...),
	layerOps:         {},
	layerTestSupport: engine,
	layerEngine:      engine[1:],
	layerRepo:        {layerData, layerBackend, layerIndex, layerPack, layerChunker, layerCrypto},
	layerFS:          {layerData, layerCrypto},
	layerData:        {layerCrypto},
	layerBackend:     {},
	layerIndex:       {layerPack},
	layerPack:        {layerCrypto},
	layerChunker:     {},
	layerCrypto:      {},
	layerOther:       {layerBackend, layerData, layerIndex, layerPack, layerChunker, layerCrypto, layerOther},
}

// allowed reports whether package from may import package to (both
// relative to the module root) and, if not, why. test says whether the
// import is a test's (repo/repotest is for tests only).
func allowed(from, to string, test bool) (bool, string) {
	lf, lt := classify(from), classify(to)
	if lt == layerTestSupport && !test {
		return false, "repo/repotest is test support: only tests import it"
	}
	if lt == layerTestSupport && lf != layerTestSupport {
		// Any test may make throw-away repositories; repotest itself
		// imports only the engine.
		return true, ""
	}
	if lf == lt {
		return true, ""
	}
	for _, l := range mayImport[lf] {
		if l == lt {
			return true, ""
		}
	}
	switch {
	case lt == layerEngine:
		return false, "only cmd/..., bench/..., fuzz/..., web/... and the Immich layer may import the engine's operations (archiver, restorer, maintenance)"
	case lt == layerRepo:
		return false, "only the engine's operations and the layers above them may import repo (to keep the architectural layers intact)"
	case lt == layerImmich:
		return false, "the engine must not import the Immich layer"
	case lt == layerWeb:
		return false, "only cmd/... imports the web server (the engine and the Immich layer never do)"
	case lt == layerCmd:
		return false, "nothing imports a command"
	}
	return false, fmt.Sprintf("a %s package may import only %v", lf, mayImport[lf])
}

// goPackage is the subset of `go list -json` output used here.
type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	if r, ok := strings.CutPrefix(importPath, module+"/"); ok {
		return r, true
	}
	return "", false
}

// TestImportDirection checks every import (production and test) of every
// package in the module against the layering rules.
func TestImportDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages: is the module root right?", len(pkgs))
	}
	var violations []string
	checked := 0
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		check := func(kind string, imports []string) {
			for _, imp := range imports {
				to, ok := rel(imp)
				if !ok || to == from {
					continue
				}
				checked++
				// Tests may use the test-support helpers under internal/
				// (s3test, pgtest: they start real servers, import no engine layer above).
				if kind != "" && under(to, "internal") && strings.HasSuffix(to, "test") && classify(to) == layerOther {
					continue
				}
				// repo's external tests (package repo_test, outside repo's
				// import graph, so no cycle can hide there) make snapshots
				// with the archiver and restore them, as a user of repo
				// would, to test prune, check, repair and locks on real data.
				if kind == "(external test)" && classify(from) == layerRepo && classify(to) == layerEngine {
					continue
				}
				if ok, why := allowed(from, to, kind != ""); !ok {
					violations = append(violations, fmt.Sprintf("%s %s imports %s: %s", from, kind, to, why))
				}
			}
		}
		check("", p.Imports)
		// Tests of a lower layer must not reach up either (a pack test
		// importing repo would hide a cycle behind the test build).
		check("(test)", p.TestImports)
		check("(external test)", p.XTestImports)
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("%d packages, %d intra-module imports checked", len(pkgs), checked)
}

// TestRules pins the rule table itself, so that the check above can fail.
func TestRules(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		{"cmd/immich-vault", "repo", true},
		{"cmd/immich-vault", "immich", true},
		{"bench", "repo", true},
		{"fuzz", "repo", true},
		{"immich", "repo", true},
		{"repo", "repo/backend", true},
		{"repo", "repo/backend/local", true},
		{"repo", "pack", true},
		{"repo", "index", true},
		{"repo", "chunker", true},
		{"repo", "crypto", true},
		{"repo/repotest", "repo", true},
		{"repo/repotest", "archiver", true},
		{"maintenance", "repo", true},
		{"archiver", "fs", true},
		{"restorer", "repo/data", true},
		{"immich", "restorer", true},
		{"repo", "repo/data", true},
		{"repo/data", "crypto", true},
		{"fs", "repo/data", true},
		{"immich", "ops", true},
		{"cmd/immich-vault", "ops", true},
		{"cmd/immich-vault", "repo/data", true},
		{"repo/backend/local", "repo/backend", true},
		{"repo/backend/backendtest", "repo/backend/mem", true},
		{"index", "pack", true},
		{"pack", "crypto", true},
		{"internal/layering", "pack", true},
		{"cmd/immich-vault", "web", true},
		{"web", "repo", true},
		{"web", "immich", true},
		{"web", "pack", true},

		{"repo", "cmd/immich-vault", false},
		{"repo", "immich", false},
		{"repo/backend", "repo", false},
		{"repo/data", "repo", false},
		{"fs", "repo", false},
		{"repo", "maintenance", false},
		{"repo", "fs", false},
		{"repo", "archiver", false},
		{"fs", "restorer", false},
		{"archiver", "immich", false},
		{"immich", "repo/repotest", false},
		{"maintenance", "ops", false},
		{"ops", "repo", false},
		{"ops", "immich", false},
		{"repo", "ops", false},
		{"fs", "pack", false},
		{"repo/data", "fs", false},
		{"repo/data", "pack", false},
		{"repo/backend", "repo/data", false},
		{"repo/backend/local", "pack", false},
		{"index", "repo", false},
		{"index", "chunker", false},
		{"index", "crypto", false},
		{"pack", "index", false},
		{"pack", "repo", false},
		{"crypto", "pack", false},
		{"crypto", "chunker", false},
		{"chunker", "crypto", false},
		{"chunker", "pack", false},
		{"internal/something", "repo", false},
		{"pack", "immich", false},
		{"chunker", "immich/compose", false},
		{"immich", "cmd/immich-vault", false},
		{"repo", "web", false},
		{"immich", "web", false},
		{"pack", "web", false},
		{"internal/something", "web", false},
		{"web", "cmd/immich-vault", false},
	}
	for _, c := range cases {
		if got, why := allowed(c.from, c.to, false); got != c.want {
			t.Errorf("allowed(%q, %q) = %v (%s), want %v", c.from, c.to, got, why, c.want)
		}
	}
	// Every path segment boundary matters: "repository" is not "repo".
	if classify("repository") == layerRepo || classify("packer") == layerPack || classify("website") == layerWeb {
		t.Error("classify matches on a name prefix instead of a path segment")
	}
}
