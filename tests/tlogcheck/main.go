// Command tlogcheck is an independent checker of one partition's
// transparency log as the archiver writes it to the bucket
// (docs/FORMAT.md §11.11), on Go's golang.org/x/mod/sumdb/note (signed
// notes) and sumdb/tlog (tiles, tree hashes, proofs). Nothing of the Rust
// crates is used.
//
//	tlogcheck -dir D -vkey V -origin O [-leaves F]
//
// D holds the log's objects as downloaded (D/checkpoint/<size, 20 digits>,
// D/tile/<L>/<N>[.p/<W>]). F is a JSON array of the hex record digests of
// the partition's records in chain order, computed by the caller from the
// events themselves. It checks:
//   - every checkpoint opens under V, names O and the size of its key;
//   - the tiles give each checkpoint's root (tlog.TreeHash over the tiles);
//   - successive checkpoints are consistent (tlog.ProveTree, CheckTree);
//   - leaf i of the newest tree is RecordHash(digest i) for every digest in
//     F, and sampled records have inclusion proofs (ProveRecord,
//     CheckRecord) in the newest tree and in the first tree holding them.
//
// It prints a JSON summary; any failure exits 1 with the reason.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

// dirTiles reads tiles from the downloaded directory. x/mod's tile paths
// carry the height (tile/8/L/N); c2sp.org/tlog-tiles' do not (tile/L/N).
type dirTiles struct {
	dir   string
	reads int
}

func (d *dirTiles) Height() int { return 8 }

func (d *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.TrimPrefix(t.Path(), "tile/8/")
		data, err := os.ReadFile(filepath.Join(d.dir, "tile", filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		d.reads++
		out[i] = data
	}
	return out, nil
}

func (d *dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

type checkpoint struct {
	key  string
	tree tlog.Tree
}

func parseCheckpoint(text, origin string) (tlog.Tree, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 {
		return tlog.Tree{}, fmt.Errorf("%d lines, want 3", len(lines))
	}
	if lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("origin %q, want %q", lines[0], origin)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return tlog.Tree{}, fmt.Errorf("bad root %q", lines[2])
	}
	var h tlog.Hash
	copy(h[:], root)
	return tlog.Tree{N: n, Hash: h}, nil
}

func main() {
	dir := flag.String("dir", "", "the log's downloaded objects")
	vkey := flag.String("vkey", "", "the checkpoints' note verifier key")
	origin := flag.String("origin", "", "the log's origin line")
	leavesFile := flag.String("leaves", "", "JSON array of hex record digests, in chain order")
	flag.Parse()
	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		die("vkey: %v", err)
	}
	names, err := os.ReadDir(filepath.Join(*dir, "checkpoint"))
	if err != nil {
		die("%v", err)
	}
	var cps []checkpoint
	for _, e := range names {
		msg, err := os.ReadFile(filepath.Join(*dir, "checkpoint", e.Name()))
		if err != nil {
			die("%v", err)
		}
		n, err := note.Open(msg, note.VerifierList(verifier))
		if err != nil {
			die("checkpoint %s: %v", e.Name(), err)
		}
		tree, err := parseCheckpoint(n.Text, *origin)
		if err != nil {
			die("checkpoint %s: %v", e.Name(), err)
		}
		if want := fmt.Sprintf("%020d", tree.N); e.Name() != want {
			die("checkpoint %s holds size %d (key should be %s)", e.Name(), tree.N, want)
		}
		cps = append(cps, checkpoint{key: e.Name(), tree: tree})
	}
	if len(cps) == 0 {
		die("no checkpoint in %s", *dir)
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].tree.N < cps[j].tree.N })
	tiles := &dirTiles{dir: *dir}
	for i, c := range cps {
		h, err := tlog.TreeHash(c.tree.N, tlog.TileHashReader(c.tree, tiles))
		if err != nil {
			die("tree hash at %d: %v", c.tree.N, err)
		}
		if h != c.tree.Hash {
			die("the tiles give root %v at size %d, the checkpoint says %v", h, c.tree.N, c.tree.Hash)
		}
		if i > 0 {
			old := cps[i-1].tree
			p, err := tlog.ProveTree(c.tree.N, old.N, tlog.TileHashReader(c.tree, tiles))
			if err != nil {
				die("consistency proof %d -> %d: %v", old.N, c.tree.N, err)
			}
			if err := tlog.CheckTree(p, c.tree.N, c.tree.Hash, old.N, old.Hash); err != nil {
				die("consistency %d -> %d: %v", old.N, c.tree.N, err)
			}
		}
	}
	newest := cps[len(cps)-1].tree
	proofs := 0
	var leaves []string
	if *leavesFile != "" {
		data, err := os.ReadFile(*leavesFile)
		if err != nil {
			die("%v", err)
		}
		if err := json.Unmarshal(data, &leaves); err != nil {
			die("leaves: %v", err)
		}
		if int64(len(leaves)) > newest.N {
			die("%d leaves given, the newest checkpoint has %d", len(leaves), newest.N)
		}
		reader := tlog.TileHashReader(newest, tiles)
		indexes := make([]int64, len(leaves))
		want := make([]tlog.Hash, len(leaves))
		for i, l := range leaves {
			d, err := hex.DecodeString(l)
			if err != nil || len(d) != 32 {
				die("leaf %d: %q is not a hex digest", i, l)
			}
			indexes[i] = tlog.StoredHashIndex(0, int64(i))
			want[i] = tlog.RecordHash(d)
		}
		got, err := reader.ReadHashes(indexes)
		if err != nil {
			die("reading leaf hashes: %v", err)
		}
		for i := range want {
			if got[i] != want[i] {
				die("leaf %d of the log is not the record digest %s", i, leaves[i])
			}
		}
		for i := 0; i < len(leaves); i++ {
			if i != 0 && i != len(leaves)-1 && i%97 != 0 {
				continue
			}
			for _, tree := range []tlog.Tree{newest, firstHolding(cps, int64(i))} {
				p, err := tlog.ProveRecord(tree.N, int64(i), tlog.TileHashReader(tree, tiles))
				if err != nil {
					die("inclusion proof of %d in %d: %v", i, tree.N, err)
				}
				if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(i), want[i]); err != nil {
					die("inclusion of %d in %d: %v", i, tree.N, err)
				}
				proofs++
			}
		}
	}
	sizes := make([]int64, len(cps))
	for i, c := range cps {
		sizes[i] = c.tree.N
	}
	out, _ := json.Marshal(map[string]any{
		"checkpoints":      len(cps),
		"sizes":            sizes,
		"size":             newest.N,
		"leaves_checked":   len(leaves),
		"inclusion_proofs": proofs,
		"tile_reads":       tiles.reads,
	})
	fmt.Println(string(out))
}

// firstHolding is the first checkpointed tree that holds leaf i.
func firstHolding(cps []checkpoint, i int64) tlog.Tree {
	for _, c := range cps {
		if c.tree.N > i {
			return c.tree
		}
	}
	return cps[len(cps)-1].tree
}
