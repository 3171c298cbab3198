// Command witnessclient is an independent client of `auditlog witness`
// (c2sp.org/tlog-witness), on Go's golang.org/x/mod/sumdb/tlog (Merkle
// trees, consistency proofs) and sumdb/note (signing and opening notes).
// Nothing of the Rust crates is used: the log is built, signed and proven
// here, and the witness's cosignatures are checked with a cosignature/v1
// verifier written from c2sp.org/tlog-cosignature.
//
//	witnessclient vkey   -origin O -seed S                      # the log's vkey
//	witnessclient run    -url U -origin O -seed S -witness V    # the interop flow
//	witnessclient bodies -origin O -seed S -tag T -shared K -pairs old:size,...
//	witnessclient verify -witness V < [{"body": ..., "response": ...}, ...]
//
// A log's leaf i is "base <i>" below -shared and "<tag> <i>" from there, so
// two tags give two forks that agree on their first -shared leaves.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "witnessclient: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		die("%v", err)
	}
}

// logSigner is an Ed25519 note signer whose seed is SHA-256 of a string.
type logSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	vkey string
}

func (s *logSigner) Name() string                    { return s.name }
func (s *logSigner) KeyHash() uint32                 { return s.hash }
func (s *logSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

func newLogSigner(origin, seed string) *logSigner {
	s := sha256.Sum256([]byte(seed))
	key := ed25519.NewKeyFromSeed(s[:])
	vkey, err := note.NewEd25519VerifierKey(origin, key.Public().(ed25519.PublicKey))
	check(err)
	v, err := note.NewVerifier(vkey)
	check(err)
	return &logSigner{name: origin, hash: v.KeyHash(), key: key, vkey: vkey}
}

// forkLog is a log of the fork `tag`, kept as tlog's stored hashes.
type forkLog struct {
	tag    string
	shared int64
	hashes []tlog.Hash
	size   int64
}

func (l *forkLog) grow(n int64) {
	for l.size < n {
		data := fmt.Sprintf("%s %d", l.tag, l.size)
		if l.size < l.shared {
			data = fmt.Sprintf("base %d", l.size)
		}
		hs, err := tlog.StoredHashes(l.size, []byte(data), l.reader())
		check(err)
		l.hashes = append(l.hashes, hs...)
		l.size++
	}
}

func (l *forkLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("stored hash %d missing", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

// request is an add-checkpoint body from old to size, and the checkpoint note.
func (l *forkLog) request(s *logSigner, origin string, old, size int64) (body, checkpoint []byte) {
	l.grow(size)
	root, err := tlog.TreeHash(size, l.reader())
	check(err)
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
	signed, err := note.Sign(&note.Note{Text: text}, s)
	check(err)
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 && old < size {
		proof, err := tlog.ProveTree(size, old, l.reader())
		check(err)
		for _, h := range proof {
			fmt.Fprintln(&b, base64.StdEncoding.EncodeToString(h[:]))
		}
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes(), signed
}

// cosigVerifier checks cosignature/v1 (signature type 0x04) lines of one witness.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks sig = u64be(timestamp) || Ed25519 over
// "cosignature/v1\ntime <timestamp>\n" || checkpoint text, and that the
// timestamp is not zero and within a day of now.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	now := uint64(time.Now().Unix())
	if t == 0 || t > now+86400 || t+86400 < now {
		return false
	}
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.pub, m, sig[8:])
}

func parseWitnessVKey(vkey string) *cosigVerifier {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		die("witness vkey %q is not name+id+key", vkey)
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	check(err)
	key, err := base64.StdEncoding.DecodeString(parts[2])
	check(err)
	if len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		die("witness vkey %q is not a cosignature/v1 (0x04) Ed25519 key", vkey)
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(id) {
		die("witness vkey %q: key id does not match", vkey)
	}
	return &cosigVerifier{name: parts[0], hash: uint32(id), pub: ed25519.PublicKey(key[1:])}
}

// verifyCosignature checks that response holds a valid cosignature by w of
// the checkpoint note, and nothing but signature lines.
func verifyCosignature(w *cosigVerifier, checkpoint, response []byte) error {
	if len(response) == 0 || !bytes.HasSuffix(response, []byte("\n")) {
		return errors.New("response is not newline-terminated signature lines")
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(response), "\n"), "\n") {
		if !strings.HasPrefix(line, "\u2014 ") {
			return fmt.Errorf("response line %q is not a signature line", line)
		}
	}
	n, err := note.Open(append(append([]byte{}, checkpoint...), response...), note.VerifierList(w))
	if err != nil {
		return fmt.Errorf("cosignature does not verify: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != w.name {
		return fmt.Errorf("expected one cosignature by %s, got %d", w.name, len(n.Sigs))
	}
	return nil
}

func post(url string, body []byte) (int, string, []byte) {
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// run is the interop flow: a first checkpoint from size 0, an extension
// with a consistency proof, both cosignatures verified; then a split view
// (another tree of the same size) and a stale old size, both refused.
func run(url, origin string, s *logSigner, w *cosigVerifier) {
	main := &forkLog{tag: "main"}
	type step struct {
		Old, Size int64
		Status    int
	}
	var steps []step
	expect := func(old, size int64, l *forkLog, want int) []byte {
		body, cp := l.request(s, origin, old, size)
		status, ctype, resp := post(url, body)
		steps = append(steps, step{old, size, status})
		if status != want {
			die("old %d size %d (%s): got %d %q, want %d", old, size, l.tag, status, resp, want)
		}
		if status == 200 {
			check(verifyCosignature(w, cp, resp))
		}
		if status == 409 && ctype != "text/x.tlog.size" {
			die("409 with content type %q", ctype)
		}
		return resp
	}
	expect(0, 10, main, 200)
	expect(10, 25, main, 200)
	evil := &forkLog{tag: "evil", shared: 20}
	expect(25, 25, evil, 422)
	if got := expect(10, 25, evil, 409); string(got) != "25\n" {
		die("409 body %q, want \"25\\n\"", got)
	}
	expect(25, 25, main, 200)
	out, err := json.Marshal(steps)
	check(err)
	fmt.Println(string(out))
}

func main() {
	if len(os.Args) < 2 {
		die("usage: witnessclient vkey|run|bodies|verify [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	origin := fs.String("origin", "example.com/auditlog/witness-test", "checkpoint origin (and log key name)")
	seed := fs.String("seed", "witnessclient", "the log key's seed is SHA-256 of this")
	url := fs.String("url", "", "witness base URL")
	wkey := fs.String("witness", "", "the witness's vkey")
	tag := fs.String("tag", "main", "fork tag of the leaves")
	shared := fs.Int64("shared", 0, "leaves shared with every other fork")
	pairs := fs.String("pairs", "", "old:size,... requests to write")
	check(fs.Parse(os.Args[2:]))
	s := newLogSigner(*origin, *seed)
	switch os.Args[1] {
	case "vkey":
		fmt.Println(s.vkey)
	case "run":
		run(*url, *origin, s, parseWitnessVKey(*wkey))
	case "bodies":
		l := &forkLog{tag: *tag, shared: *shared}
		type req struct {
			Old        int64  `json:"old"`
			Size       int64  `json:"size"`
			Body       string `json:"body"`
			Checkpoint string `json:"checkpoint"`
		}
		var out []req
		for _, p := range strings.Split(*pairs, ",") {
			o, z, ok := strings.Cut(p, ":")
			old, err1 := strconv.ParseInt(o, 10, 64)
			size, err2 := strconv.ParseInt(z, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				die("pair %q is not old:size", p)
			}
			body, cp := l.request(s, *origin, old, size)
			out = append(out, req{old, size, string(body), string(cp)})
		}
		check(json.NewEncoder(os.Stdout).Encode(out))
	case "verify":
		w := parseWitnessVKey(*wkey)
		var in []struct {
			Checkpoint string `json:"checkpoint"`
			Response   string `json:"response"`
		}
		check(json.NewDecoder(os.Stdin).Decode(&in))
		for i, x := range in {
			if err := verifyCosignature(w, []byte(x.Checkpoint), []byte(x.Response)); err != nil {
				die("cosignature %d: %v", i, err)
			}
		}
		fmt.Printf("%d cosignatures verified\n", len(in))
	default:
		die("unknown command %q", os.Args[1])
	}
}
