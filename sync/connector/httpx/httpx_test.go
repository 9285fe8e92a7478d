package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func TestRetries500ThenOKResendsBody(t *testing.T) {
	var n atomic.Int32
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n.Add(1) <= 2 {
			w.WriteHeader(500)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	clk := newClock()
	c := New(Options{MaxRetries: 3, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Sleep: clk.Sleep, Now: clk.Now})
	req, _ := http.NewRequest("POST", srv.URL+"/search", strings.NewReader(`{"q":1}`))
	resp, err := c.Do(MarkRetryable(req))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || resp.StatusCode != 200 {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
	if len(bodies) != 3 {
		t.Fatalf("attempts = %d, want 3", len(bodies))
	}
	for i, body := range bodies {
		if body != `{"q":1}` {
			t.Errorf("attempt %d body %q: not re-sent", i, body)
		}
	}
	st := c.Stats()
	if st.Requests != 3 || st.Retries != 2 || st.RateLimited != 0 {
		t.Errorf("stats %+v", st)
	}
	sl := clk.Sleeps()
	if len(sl) != 2 {
		t.Fatalf("sleeps %v", sl)
	}
	// Exponential with jitter: attempt i waits in [base*2^i/2, base*2^i].
	for i, d := range sl {
		hi := 100 * time.Millisecond << i
		if d < hi/2 || d > hi {
			t.Errorf("backoff %d = %v, want in [%v,%v]", i, d, hi/2, hi)
		}
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	clk := newClock()
	c := New(Options{MaxRetries: 3, Sleep: clk.Sleep, Now: clk.Now})
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	_, err := c.Do(req)
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("err = %v", err)
	}
	if he.Status != 503 || he.Attempts != 4 || n.Load() != 4 {
		t.Fatalf("status %d attempts %d server saw %d", he.Status, he.Attempts, n.Load())
	}
}

func TestNonIdempotentNotRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	clk := newClock()
	c := New(Options{MaxRetries: 3, Sleep: clk.Sleep, Now: clk.Now})
	req, _ := http.NewRequest("POST", srv.URL+"/create", strings.NewReader("x"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || n.Load() != 1 {
		t.Fatalf("status %d, attempts %d; a create must not be repeated", resp.StatusCode, n.Load())
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	clk := newClock()
	c := New(Options{Sleep: clk.Sleep, Now: clk.Now})
	// A 429 is retried even for a POST: the server did no work.
	req, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader("x"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sl := clk.Sleeps(); len(sl) != 1 || sl[0] != 7*time.Second {
		t.Fatalf("sleeps %v, want [7s]", sl)
	}
	if st := c.Stats(); st.RateLimited != 1 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateLimitedPolicyCanStop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(429)
		io.WriteString(w, `{"policyName":"DAILY"}`)
	}))
	defer srv.Close()
	clk := newClock()
	stop := errors.New("daily limit")
	var sawBody string
	c := New(Options{Sleep: clk.Sleep, Now: clk.Now, RateLimited: func(resp *http.Response, body []byte, attempt int) (time.Duration, error) {
		sawBody = string(body)
		return 0, stop
	}})
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	_, err := c.Do(req)
	if !errors.Is(err, stop) || !strings.Contains(sawBody, "DAILY") {
		t.Fatalf("err %v body %q", err, sawBody)
	}
}

// maxInWindow is the largest number of times within any window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	best := 0
	for i := range times {
		n := 0
		for j := range times {
			if !times[j].Before(times[i]) && times[j].Before(times[i].Add(w)) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

func TestLimiterSpacing(t *testing.T) {
	clk := newClock()
	var mu sync.Mutex
	var all, search []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := clk.Now()
		all = append(all, now)
		if strings.HasSuffix(r.URL.Path, "/search") {
			search = append(search, now)
		}
		mu.Unlock()
	}))
	defer srv.Close()
	general := NewLimiter(10, 10*time.Second, nil)
	searchLim := NewLimiter(4, time.Second, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/search") })
	c := New(Options{Sleep: clk.Sleep, Now: clk.Now, Limiters: []*Limiter{general, searchLim}})
	start := clk.Now()
	for i := 0; i < 25; i++ {
		path := "/get"
		if i%2 == 0 {
			path = "/search"
		}
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := maxInWindow(all, 10*time.Second); got != 10 {
		t.Errorf("max requests in a 10 s window = %d, want 10", got)
	}
	if got := maxInWindow(search, time.Second); got > 4 {
		t.Errorf("max searches in a 1 s window = %d, want <= 4", got)
	}
	// 25 requests at 10 per 10 s: the 21st cannot go before 20 s.
	if el := all[len(all)-1].Sub(start); el < 20*time.Second {
		t.Errorf("last request at %v, want >= 20s", el)
	}

	// Searches only: the search limiter alone paces them at 4/s.
	clk2 := newClock()
	c2 := New(Options{Sleep: clk2.Sleep, Now: clk2.Now, Limiters: []*Limiter{NewLimiter(4, time.Second, nil)}})
	start = clk2.Now()
	for i := 0; i < 9; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/other", nil)
		resp, err := c2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if el := clk2.Now().Sub(start); el < 2*time.Second || el > 3*time.Second {
		t.Errorf("9 requests at 4/s took %v of fake time, want 2s..3s", el)
	}
}

func TestSecretNotInErrors(t *testing.T) {
	const secret = "pat-na1-SECRET-TOKEN"
	var logs strings.Builder
	logf := func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
	clk := newClock()
	c := New(Options{MaxRetries: 1, Sleep: clk.Sleep, Now: clk.Now, Logf: logf})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		io.WriteString(w, r.Header.Get("Authorization")) // a server echoing the token
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/crm/v3/objects/contacts?hapikey="+secret, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	_, err := c.Do(req)
	if err == nil {
		t.Fatal("want an error")
	}
	if !strings.Contains(err.Error(), "GET /crm/v3/objects/contacts: 502") {
		t.Errorf("error %q should name method, path, status", err)
	}

	// A refused connection: *url.Error's text would quote the URL.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	req2, _ := http.NewRequest("GET", "http://"+addr+"/p?hapikey="+secret, nil)
	req2.Header.Set("Authorization", "Bearer "+secret)
	_, err2 := c.Do(req2)
	if err2 == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{err.Error(), err2.Error(), logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked: %q", s)
		}
	}
	if !strings.Contains(err2.Error(), "GET /p: connection failed") {
		t.Errorf("error %q", err2)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c := New(Options{MaxRetries: 10, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // the user cancels while we back off
		return ctx.Err()
	}})
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	_, err := c.Do(req)
	if !errors.Is(err, context.Canceled) || n.Load() != 1 {
		t.Fatalf("err %v, attempts %d", err, n.Load())
	}
}

func TestPerAttemptTimeoutRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		io.WriteString(w, "late but fine")
	}))
	defer srv.Close()
	clk := newClock()
	c := New(Options{Timeout: 50 * time.Millisecond, MaxRetries: 2, Sleep: clk.Sleep, Now: clk.Now})
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "late but fine" || n.Load() != 2 {
		t.Fatalf("body %q attempts %d", b, n.Load())
	}

	c2 := New(Options{Timeout: 30 * time.Millisecond, MaxRetries: -1})
	n.Store(0)
	req2, _ := http.NewRequest("GET", srv.URL, nil)
	_, err = c2.Do(req2)
	var he *Error
	if !errors.As(err, &he) || !he.Timeout() || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v, want a timeout", err)
	}
}
