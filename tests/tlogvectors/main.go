// Command tlogvectors is the interop check between the Rust crate `tlog` and
// Go's golang.org/x/mod/sumdb/note and sumdb/tlog, code nobody here wrote.
//
//	go run . gen > ../../tlog/tests/vectors/x-mod.json   # vectors Rust must reproduce
//	go run . verify DIR                                  # check what Rust wrote to DIR
//
// x/mod names tiles tile/<H>/<L>/<N>; C2SP tlog-tiles drops the height (always
// 8), so paths are converted with c2spPath. x/mod has no cosignatures: the
// cosignature/v1 code here is a second reading of the spec, not a third party.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const origin = "example.com/auditlog/vectors"

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlogvectors: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		die("%v", err)
	}
}

// seed returns the fixed Ed25519 seed i: 32 bytes of value i.
func seed(i byte) []byte { return bytes.Repeat([]byte{i}, ed25519.SeedSize) }

// leaf is the data of record i of every vector tree.
func leaf(i int64) []byte { return []byte(fmt.Sprintf("auditlog tlog vector leaf %d", i)) }

func c2spPath(t tlog.Tile) string { return "tile/" + strings.TrimPrefix(t.Path(), "tile/8/") }

type keyJSON struct {
	Name  string `json:"name"`
	Seed  []byte `json:"seed"`
	KeyID uint32 `json:"key_id"`
	VKey  string `json:"vkey"`
	SKey  string `json:"skey"`
}

func ed25519Key(name string, s []byte) (keyJSON, note.Signer, note.Verifier) {
	pub := ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	check(err)
	parts := strings.Split(vkey, "+")
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%s+%s", name, parts[1],
		base64.StdEncoding.EncodeToString(append([]byte{1}, s...)))
	signer, err := note.NewSigner(skey)
	check(err)
	verifier, err := note.NewVerifier(vkey)
	check(err)
	return keyJSON{name, s, signer.KeyHash(), vkey, skey}, signer, verifier
}

// memHashes is a log's stored hashes in memory.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("stored hash %d not in log of %d", x, len(m))
		}
		out[i] = m[x]
	}
	return out, nil
}

func buildLog(n int64) memHashes {
	var m memHashes
	for i := int64(0); i < n; i++ {
		hs, err := tlog.StoredHashes(i, leaf(i), m)
		check(err)
		m = append(m, hs...)
	}
	return m
}

type tileJSON struct {
	Path   string `json:"path"`
	Level  int    `json:"level"`
	Index  int64  `json:"index"`
	Width  int    `json:"width"`
	SHA256 []byte `json:"sha256"`
	Data   []byte `json:"data,omitempty"` // partial tiles only, to keep the file small
}

type treeJSON struct {
	Size  int64      `json:"size"`
	Root  tlog.Hash  `json:"root"`
	Tiles []tileJSON `json:"tiles"`
	Note  string     `json:"checkpoint_note"`
}

type inclusionJSON struct {
	Size  int64       `json:"size"`
	Index int64       `json:"index"`
	Leaf  tlog.Hash   `json:"leaf_hash"`
	Proof []tlog.Hash `json:"proof"`
}

type consistencyJSON struct {
	Old   int64       `json:"old"`
	New   int64       `json:"new"`
	Proof []tlog.Hash `json:"proof"`
}

type indexJSON struct {
	Level  int   `json:"level"`
	N      int64 `json:"n"`
	Stored int64 `json:"stored_index"`
	// The tile holding the stored hash, with the least width that holds it.
	TilePath string `json:"tile_path"`
}

type noteCase struct {
	Name   string `json:"name"`
	Note   string `json:"note"`
	Opened bool   `json:"opened"` // whether note.Open with the vector keys accepts it
}

type vectors struct {
	Generator   string            `json:"generator"`
	Origin      string            `json:"origin"`
	LeafRule    string            `json:"leaf_rule"`
	Keys        []keyJSON         `json:"keys"`
	Note        noteCase          `json:"note"`
	Cosigned    cosignJSON        `json:"cosignature"`
	Trees       []treeJSON        `json:"trees"`
	Inclusion   []inclusionJSON   `json:"inclusion"`
	Consistency []consistencyJSON `json:"consistency"`
	Counts      map[string]int64  `json:"stored_hash_count"`
	Indexes     []indexJSON       `json:"stored_hash_index"`
	NoteCases   []noteCase        `json:"note_cases"`
}

type cosignJSON struct {
	Name      string `json:"name"`
	Seed      []byte `json:"seed"`
	KeyID     uint32 `json:"key_id"`
	VKey      string `json:"vkey"`
	Timestamp uint64 `json:"timestamp"`
	Checkpt   string `json:"checkpoint_text"`
	Line      string `json:"signature_line"`
}

func checkpointText(n int64, h tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, n, h)
}

func gen() {
	k1, s1, v1 := ed25519Key(origin, seed(1))
	k2, s2, _ := ed25519Key("example.com/other-key", seed(2))
	known := note.VerifierList(v1)
	v := vectors{
		Generator: "golang.org/x/mod sumdb/note and sumdb/tlog (version pinned in tests/tlogvectors/go.mod)",
		Origin:    origin,
		LeafRule:  "leaf i is the ASCII text \"auditlog tlog vector leaf <i>\"; its hash is SHA-256(0x00 || text)",
		Keys:      []keyJSON{k1, k2},
		Counts:    map[string]int64{},
	}

	text := "Hello, transparency.\n\nA second paragraph.\n"
	signed, err := note.Sign(&note.Note{Text: text}, s1, s2)
	check(err)
	v.Note = noteCase{Name: "two signers", Note: string(signed), Opened: true}

	log := buildLog(70000)
	for _, n := range []int64{1, 2, 3, 7, 8, 255, 256, 257, 1000, 65536, 70000} {
		root, err := tlog.TreeHash(n, log)
		check(err)
		signed, err := note.Sign(&note.Note{Text: checkpointText(n, root)}, s1)
		check(err)
		t := treeJSON{Size: n, Root: root, Note: string(signed)}
		for _, tile := range tlog.NewTiles(8, 0, n) {
			data, err := tlog.ReadTileData(tile, log)
			check(err)
			sum := sha256.Sum256(data)
			tj := tileJSON{Path: c2spPath(tile), Level: tile.L, Index: tile.N, Width: tile.W, SHA256: sum[:]}
			if tile.W < 256 {
				tj.Data = data
			}
			t.Tiles = append(t.Tiles, tj)
		}
		v.Trees = append(v.Trees, t)
	}
	for _, c := range [][2]int64{{1, 0}, {2, 1}, {3, 2}, {7, 6}, {8, 5}, {255, 254}, {256, 0}, {256, 255},
		{257, 256}, {1000, 999}, {1000, 513}, {70000, 0}, {70000, 65535}, {70000, 65536}, {70000, 69999}} {
		p, err := tlog.ProveRecord(c[0], c[1], log)
		check(err)
		lh := tlog.RecordHash(leaf(c[1]))
		v.Inclusion = append(v.Inclusion, inclusionJSON{c[0], c[1], lh, p})
	}
	for _, c := range [][2]int64{{1, 1}, {1, 2}, {2, 3}, {3, 7}, {4, 7}, {6, 8}, {7, 8}, {1, 255}, {255, 256},
		{256, 257}, {255, 257}, {257, 1000}, {1000, 70000}, {1, 70000}, {65536, 70000}, {69999, 70000}} {
		p, err := tlog.ProveTree(c[1], c[0], log)
		check(err)
		v.Consistency = append(v.Consistency, consistencyJSON{c[0], c[1], p})
	}
	for _, n := range []int64{0, 1, 2, 3, 4, 5, 255, 256, 257, 1000, 65536, 70000} {
		v.Counts[strconv.FormatInt(n, 10)] = tlog.StoredHashCount(n)
	}
	for _, ln := range [][2]int64{{0, 0}, {0, 1}, {1, 0}, {0, 255}, {8, 0}, {0, 256}, {3, 17}, {8, 1}, {9, 3}, {16, 0}, {2, 69999}, {0, 1234067}} {
		x := tlog.StoredHashIndex(int(ln[0]), ln[1])
		l, n := tlog.SplitStoredHashIndex(x)
		if int64(l) != ln[0] || n != ln[1] {
			die("split of %d is %d,%d", x, l, n)
		}
		v.Indexes = append(v.Indexes, indexJSON{int(ln[0]), ln[1], x, c2spPath(tlog.TileForIndex(8, x))})
	}

	cs := seed(4)
	cpub := ed25519.NewKeyFromSeed(cs).Public().(ed25519.PublicKey)
	cname := "witness.example.com/w1"
	ckey := append([]byte{4}, cpub...)
	cid := keyID(cname, ckey)
	ctext := checkpointText(1000, v.Trees[8].Root)
	const ts = 1700000000
	v.Cosigned = cosignJSON{
		Name: cname, Seed: cs, KeyID: cid, Timestamp: ts, Checkpt: ctext,
		VKey: fmt.Sprintf("%s+%08x+%s", cname, cid, base64.StdEncoding.EncodeToString(ckey)),
		Line: cosignLine(cname, cid, ed25519.NewKeyFromSeed(cs), ts, ctext),
	}

	v.NoteCases = noteCases(v.Trees[8].Note, known)
	out, err := json.MarshalIndent(v, "", " ")
	check(err)
	os.Stdout.Write(append(out, '\n'))
}

func keyID(name string, key []byte) uint32 {
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	return binary.BigEndian.Uint32(h[:4])
}

// cosignLine is a cosignature/v1 line, written from c2sp.org/tlog-cosignature.
func cosignLine(name string, id uint32, key ed25519.PrivateKey, ts uint64, text string) string {
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
	sig := binary.BigEndian.AppendUint32(nil, id)
	sig = binary.BigEndian.AppendUint64(sig, ts)
	sig = append(sig, ed25519.Sign(key, []byte(msg))...)
	return fmt.Sprintf("— %s %s\n", name, base64.StdEncoding.EncodeToString(sig))
}

// noteCases mutates a signed checkpoint note and records whether x/mod opens each.
func noteCases(signed string, known note.Verifiers) []noteCase {
	split := strings.LastIndex(signed, "\n\n")
	text, sigs := signed[:split], signed[split+2:]
	sigLine := strings.TrimSuffix(sigs, "\n")
	b64 := sigLine[strings.LastIndex(sigLine, " ")+1:]
	raw, _ := base64.StdEncoding.DecodeString(b64)
	flipped := append([]byte{}, raw...)
	flipped[10] ^= 1
	otherID := append([]byte{}, raw...)
	otherID[0] ^= 1
	cases := map[string]string{
		"as signed":                 signed,
		"signature repeated":        text + "\n\n" + sigs + sigs,
		"unknown key added":         text + "\n\n" + sigs + "— example.com/unknown " + b64 + "\n",
		"unknown id same name":      text + "\n\n" + "— " + origin + " " + base64.StdEncoding.EncodeToString(otherID) + "\n",
		"only unknown":              text + "\n\n" + "— example.com/unknown " + b64 + "\n",
		"bad signature":             text + "\n\n" + "— " + origin + " " + base64.StdEncoding.EncodeToString(flipped) + "\n",
		"no signatures":             text + "\n\n",
		"no blank line":             text + "\n" + sigs,
		"missing final newline":     strings.TrimSuffix(signed, "\n"),
		"text altered":              strings.Replace(signed, "example.com", "example.org", 1),
		"control character":         strings.Replace(signed, "example", "exa\tmple", 1),
		"carriage return":           strings.Replace(signed, "\n\n", "\r\n\n", 1),
		"invalid utf8":              strings.Replace(signed, "example", "exa\xffmple", 1),
		"hyphen instead of em dash": strings.Replace(signed, "— ", "- ", 1),
		"name with plus":            text + "\n\n" + sigs + "— a+b " + b64 + "\n",
		"short signature":           text + "\n\n" + sigs + "— example.com/unknown AAAA\n",
		"bad base64":                text + "\n\n" + sigs + "— example.com/unknown !!!!\n",
		"two spaces":                text + "\n\n" + strings.Replace(sigs, " ", "  ", 1),
		"trailing empty line":       signed + "\n",
	}
	var out []noteCase
	for _, name := range sortedKeys(cases) {
		_, err := note.Open([]byte(cases[name]), known)
		out = append(out, noteCase{Name: name, Note: cases[name], Opened: err == nil})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "gen" {
		gen()
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "verify" {
		verify(os.Args[2])
		return
	}
	die("usage: tlogvectors gen | tlogvectors verify DIR")
}

// dirTiles reads C2SP tiles that the Rust crate wrote below a directory.
type dirTiles string

func (d dirTiles) Height() int { return 8 }
func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(string(d), filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

type rustProofs struct {
	Inclusion   []inclusionJSON   `json:"inclusion"`
	Consistency []consistencyJSON `json:"consistency"`
}

func parseCheckpoint(text string) (int64, tlog.Hash) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[0] != origin {
		die("checkpoint %q: bad origin", text)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	check(err)
	h, err := tlog.ParseHash(lines[2])
	check(err)
	return n, h
}

// verify checks a directory the Rust test `rust_artifacts_for_go` wrote:
// vkey (the log's), cosigner.vkey, checkpoint-<n> notes (the last cosigned),
// tiles for the largest size, and proofs.json.
func verify(dir string) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		check(err)
		return string(b)
	}
	vkey := strings.TrimSpace(read("vkey"))
	v, err := note.NewVerifier(vkey)
	check(err)
	sizes := strings.Fields(read("sizes"))
	roots := map[int64]tlog.Hash{}
	var last int64
	for _, s := range sizes {
		n, err := note.Open([]byte(read("checkpoint-"+s)), note.VerifierList(v))
		check(err)
		size, root := parseCheckpoint(n.Text)
		roots[size], last = root, size
	}
	cosigned := read("checkpoint-" + sizes[len(sizes)-1])
	checkCosignature(cosigned, strings.TrimSpace(read("cosigner.vkey")))

	r := tlog.TileHashReader(tlog.Tree{N: last, Hash: roots[last]}, dirTiles(dir))
	for n, root := range roots {
		h, err := tlog.TreeHash(n, r)
		check(err)
		if h != root {
			die("tree hash of %d from Rust tiles is %v, checkpoint says %v", n, h, root)
		}
	}
	// Every tile, authenticated by x/mod's reader against the root of the
	// largest checkpoint (it checks each tile it reads up to the root).
	tiles := tlog.NewTiles(8, 0, last)
	for _, t := range tiles {
		want, err := tlog.ReadTileData(t, r)
		check(err)
		if !bytes.Equal(want, []byte(read(c2spPath(t)))) {
			die("tile %s differs", c2spPath(t))
		}
	}
	var p rustProofs
	check(json.Unmarshal([]byte(read("proofs.json")), &p))
	for _, c := range p.Inclusion {
		check(tlog.CheckRecord(c.Proof, c.Size, roots[c.Size], c.Index, c.Leaf))
		mine, err := tlog.ProveRecord(c.Size, c.Index, r)
		check(err)
		if fmt.Sprint(mine) != fmt.Sprint(tlog.RecordProof(c.Proof)) {
			die("inclusion %d in %d: Rust proof differs from x/mod's", c.Index, c.Size)
		}
	}
	for _, c := range p.Consistency {
		check(tlog.CheckTree(c.Proof, c.New, roots[c.New], c.Old, roots[c.Old]))
		mine, err := tlog.ProveTree(c.New, c.Old, r)
		check(err)
		if fmt.Sprint(mine) != fmt.Sprint(tlog.TreeProof(c.Proof)) {
			die("consistency %d to %d: Rust proof differs from x/mod's", c.Old, c.New)
		}
	}
	fmt.Printf("ok: %d checkpoints, %d tiles of size %d, %d inclusion and %d consistency proofs, 1 cosignature\n",
		len(roots), len(tiles), last, len(p.Inclusion), len(p.Consistency))
}

// checkCosignature finds the cosigner's line in a note and checks it.
func checkCosignature(signed, vkey string) {
	parts := strings.SplitN(vkey, "+", 3)
	key, err := base64.StdEncoding.DecodeString(parts[2])
	check(err)
	if len(key) != 33 || key[0] != 4 || fmt.Sprintf("%08x", keyID(parts[0], key)) != parts[1] {
		die("cosigner vkey %q is not a cosignature/v1 key", vkey)
	}
	text, sigs, _ := strings.Cut(signed, "\n\n")
	text += "\n"
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		name, b64, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		check(err)
		if name != parts[0] || len(sig) != 76 || fmt.Sprintf("%08x", binary.BigEndian.Uint32(sig)) != parts[1] {
			continue
		}
		ts := binary.BigEndian.Uint64(sig[4:])
		msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
		if !ed25519.Verify(key[1:], []byte(msg), sig[12:]) {
			die("cosignature by %s does not verify", name)
		}
		return
	}
	die("no cosignature by %s", parts[0])
}
