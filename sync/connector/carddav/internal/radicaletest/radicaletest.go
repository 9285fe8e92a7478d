// Package radicaletest starts a throw-away Radicale CardDAV server on the
// loopback interface for tests (Debian's radicale package, 3.x). The server
// has one user with a password (htpasswd, plain), its storage in a temporary
// folder, and an empty address book at /<user>/contacts/. It is stopped when
// the test ends.
package radicaletest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a running Radicale.
type Server struct {
	Root        string // http://127.0.0.1:PORT/
	AddressBook string // http://127.0.0.1:PORT/<user>/contacts/
	User, Pass  string

	cmd     *exec.Cmd
	done    chan struct{}
	storage string
}

// Start starts Radicale and returns the address book URL and the
// credentials. It skips the test when radicale is not installed.
func Start(t testing.TB) (url, user, pass string) {
	s := StartServer(t)
	return s.AddressBook, s.User, s.Pass
}

// command finds how to run radicale: the script, else the Python module.
func command() ([]string, bool) {
	if p, err := exec.LookPath("radicale"); err == nil {
		return []string{p}, true
	}
	if py, err := exec.LookPath("python3"); err == nil {
		if exec.Command(py, "-c", "import radicale").Run() == nil {
			return []string{py, "-m", "radicale"}, true
		}
	}
	return nil, false
}

// StartServer starts Radicale and returns its handle (Stop kills it early).
func StartServer(t testing.TB) *Server {
	t.Helper()
	argv, ok := command()
	if !ok {
		t.Skip("radicale is not installed (apt-get install radicale); skipping CardDAV server tests")
	}
	dir := t.TempDir()
	port := freePort(t)
	s := &Server{
		Root: fmt.Sprintf("http://127.0.0.1:%d/", port),
		User: "alice",
		Pass: "s3cret-pw",
		done: make(chan struct{}),
	}
	s.AddressBook = s.Root + s.User + "/contacts/"
	s.storage = filepath.Join(dir, "collections")
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(s.User+":"+s.Pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[server]
hosts = 127.0.0.1:%d

[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = %s

[web]
type = none

[logging]
level = warning
mask_passwords = True
`, port, users, s.storage)
	cfgPath := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(argv[0], append(argv[1:], "--config", cfgPath)...)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start radicale: %v", err)
	}
	s.cmd = cmd
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-s.done:
			t.Fatalf("radicale exited at start: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("radicale did not listen on port %d: %s", port, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mkAddressBook(t, s.AddressBook)
	return s
}

// mkAddressBook creates an address book with an extended MKCOL.
func (s *Server) mkAddressBook(t testing.TB, url string) {
	t.Helper()
	body := `<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>Contacts</D:displayname>
  </D:prop></D:set>
</D:mkcol>`
	resp := s.Do(t, "MKCOL", url, body, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL %s: %s", url, resp.Status)
	}
}

// Do sends a raw request as the server's user (another client, for tests)
// and returns the response with its body read into Body.
func (s *Server) Do(t testing.TB, method, url, body string, header map[string]string) *Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.User, s.Pass)
	if strings.HasPrefix(body, "<?xml") {
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	} else if body != "" {
		req.Header.Set("Content-Type", "text/vcard; charset=utf-8")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return &Response{Response: resp, Body: buf.String()}
}

// Seed writes cards straight into the address book's storage folder, as
// files named by their keys: much faster than one PUT each (Radicale checks
// every PUT against the whole collection), for tests that need many cards.
func (s *Server) Seed(t testing.TB, cards map[string]string) {
	t.Helper()
	dir := filepath.Join(s.storage, "collection-root", s.User, "contacts")
	for name, body := range cards {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Response is an HTTP response with its body read.
type Response struct {
	*http.Response
	Body string
}

// Stop kills the server (safe to call twice).
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
