// Package httpx is the HTTP client every connector shares: a per-request
// timeout, retries with exponential backoff and jitter (5xx, timeouts,
// connection errors) for idempotent requests or requests marked retryable,
// 429 handling (Retry-After, or a caller-supplied policy), sliding-window
// rate limiters ("N requests per window", several may apply to a request),
// and error texts that never carry a secret: they name the method, the URL
// path and the status only (no query string, no header, no body).
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Client. Zero values get sensible defaults.
type Options struct {
	// HTTPClient sends the requests (default: a new http.Client). Its own
	// Timeout should be zero: Timeout below applies per attempt.
	HTTPClient *http.Client
	// Timeout bounds one attempt (default 30 s; negative = none).
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried (default 4;
	// negative = never retry).
	MaxRetries int
	// BaseBackoff and MaxBackoff shape the exponential backoff
	// (defaults 500 ms and 30 s).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Limiters pace requests; each applies to the requests it matches.
	Limiters []*Limiter
	// Sleep waits d or until ctx is done (tests pass a fake). Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of the limiters (tests pass a fake). Default time.Now.
	Now func() time.Time
	// RateLimited decides what to do with a 429 when there is no usable
	// Retry-After header: wait that long and retry, or stop with the error.
	// attempt counts from 0. Default: exponential backoff.
	RateLimited func(resp *http.Response, body []byte, attempt int) (time.Duration, error)
	// OnResponse sees every response (e.g. to read rate-limit headers).
	OnResponse func(resp *http.Response)
	// Logf, when set, receives one line per retry (method, path, status).
	Logf func(format string, args ...any)
}

// Stats are the client's counters.
type Stats struct {
	Requests    int64 // attempts sent
	RateLimited int64 // 429 answers seen
	Retries     int64 // attempts that were retries (any cause)
}

// Client sends requests with retries and pacing. It is safe for concurrent use.
type Client struct {
	o Options

	requests, limited, retries atomic.Int64

	mu        sync.Mutex // serialises limiter acquisition
	notBefore time.Time  // set by Delay
}

// New returns a Client.
func New(o Options) *Client {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 4
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), RateLimited: c.limited.Load(), Retries: c.retries.Load()}
}

// Delay makes every request wait at least d from now (e.g. when the server
// says the remaining quota is low).
func (c *Client) Delay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.o.Now().Add(d); t.After(c.notBefore) {
		c.notBefore = t
	}
}

type retryKey struct{}

// MarkRetryable returns req marked safe to retry although its method is not
// idempotent (a search POST, a batch read, an update that sets values).
func MarkRetryable(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), retryKey{}, true))
}

func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace,
		"PROPFIND", "REPORT": // WebDAV reads: safe to repeat
		return true
	}
	v, _ := req.Context().Value(retryKey{}).(bool)
	return v
}

// Error is a request that failed after retries, or could not be sent. Its
// text holds the method, the URL path and the status only.
type Error struct {
	Method   string
	Path     string
	Status   int    // 0 when no response came
	Attempts int    // attempts made
	Body     []byte // last response body (not part of Error())
	Err      error  // cause: transport error, context error, policy error
}

func (e *Error) Error() string {
	var s string
	if e.Status != 0 {
		s = fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	} else {
		s = fmt.Sprintf("%s %s: %s", e.Method, e.Path, describe(e.Err))
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if e.Status != 0 && e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the last attempt timed out.
func (e *Error) Timeout() bool { return errors.Is(e.Err, context.DeadlineExceeded) }

// describe turns a transport error into text free of the URL (which may
// carry a query-string secret): *url.Error's own text quotes the full URL.
func describe(err error) string {
	if err == nil {
		return "failed"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "connection failed: " + err.Error()
}

// Do sends req, retrying and pacing as configured. A response is returned
// for any final HTTP status (the caller reads it); an *Error when retries
// ran out on a retryable status, or no response could be had.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	method, path := req.Method, req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	fail := func(status, attempts int, body []byte, err error) (*http.Response, error) {
		return nil, &Error{Method: method, Path: path, Status: status, Attempts: attempts, Body: body, Err: err}
	}
	// The body must be re-sendable.
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return fail(0, 0, nil, err)
		}
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	canRetry := retryable(req)
	limited := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.retries.Add(1)
		}
		slots, err := c.acquire(ctx, req)
		if err != nil {
			return fail(0, attempt, nil, err)
		}
		r := req.Clone(ctx)
		if req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				c.release(slots)
				return fail(0, attempt, nil, err)
			}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.o.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, c.o.Timeout)
		}
		r = r.WithContext(actx)
		c.requests.Add(1)
		resp, err := c.o.HTTPClient.Do(r)
		c.release(slots)
		if err != nil {
			cancel()
			if ctx.Err() != nil { // the caller gave up: no retry
				return fail(0, attempt+1, nil, ctx.Err())
			}
			if !canRetry || attempt >= c.o.MaxRetries {
				return fail(0, attempt+1, nil, err)
			}
			c.logf("retrying %s %s after %s", method, path, describe(err))
			if err := c.o.Sleep(ctx, c.backoff(attempt)); err != nil {
				return fail(0, attempt+1, nil, err)
			}
			continue
		}
		if c.o.OnResponse != nil {
			c.o.OnResponse(resp)
		}
		status := resp.StatusCode
		switch {
		case status == http.StatusTooManyRequests:
			c.limited.Add(1)
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			cancel()
			// A 429 was refused before any work: safe to retry any method.
			if limited >= c.o.MaxRetries+4 {
				return fail(status, attempt+1, body, nil)
			}
			wait, perr := c.rateWait(resp, body, limited)
			limited++
			if perr != nil {
				return fail(status, attempt+1, body, perr)
			}
			c.logf("rate limited on %s %s: waiting %s", method, path, wait)
			if err := c.o.Sleep(ctx, wait); err != nil {
				return fail(status, attempt+1, body, err)
			}
			attempt-- // a 429 does not use up a retry
			continue
		case status >= 500 && canRetry && attempt < c.o.MaxRetries:
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			cancel()
			c.logf("retrying %s %s after %d", method, path, status)
			if err := c.o.Sleep(ctx, c.backoff(attempt)); err != nil {
				return fail(status, attempt+1, nil, err)
			}
			continue
		case status >= 500 && canRetry:
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			cancel()
			return fail(status, attempt+1, body, nil)
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) logf(format string, args ...any) {
	if c.o.Logf != nil {
		c.o.Logf(format, args...)
	}
}

// backoff is exponential with jitter: a random duration in [d/2, d] where
// d = BaseBackoff * 2^attempt, capped at MaxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.o.BaseBackoff
	for i := 0; i < attempt && d < c.o.MaxBackoff; i++ {
		d *= 2
	}
	if d > c.o.MaxBackoff {
		d = c.o.MaxBackoff
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func (c *Client) rateWait(resp *http.Response, body []byte, attempt int) (time.Duration, error) {
	if d, ok := RetryAfter(resp, c.o.Now()); ok {
		return d, nil
	}
	if c.o.RateLimited != nil {
		return c.o.RateLimited(resp, body, attempt)
	}
	return c.backoff(attempt), nil
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date).
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// acquire waits until every matching limiter has room, then takes a slot in
// each. The slots are released (stamped with the completion time) after the
// response, so a request counts in the window until it has been answered.
func (c *Client) acquire(ctx context.Context, req *http.Request) ([]slot, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.mu.Lock()
		now := c.o.Now()
		wait := c.notBefore.Sub(now)
		for _, l := range c.o.Limiters {
			if l.N <= 0 || (l.Match != nil && !l.Match(req)) {
				continue
			}
			if w := l.wait(now); w > wait {
				wait = w
			}
		}
		if wait <= 0 {
			var slots []slot
			for _, l := range c.o.Limiters {
				if l.N <= 0 || (l.Match != nil && !l.Match(req)) {
					continue
				}
				slots = append(slots, l.take())
			}
			c.mu.Unlock()
			return slots, nil
		}
		c.mu.Unlock()
		if err := c.o.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (c *Client) release(slots []slot) {
	if len(slots) == 0 {
		return
	}
	c.mu.Lock()
	now := c.o.Now()
	for _, s := range slots {
		s.l.stamp(s.id, now)
	}
	c.mu.Unlock()
}

// Limiter allows at most N requests in any rolling Window (a sliding-window
// log). A request occupies its place from the moment it is sent until
// Window after its answer came back.
type Limiter struct {
	N      int
	Window time.Duration
	// Match selects the requests this limiter applies to; nil = all.
	Match func(*http.Request) bool

	next  int64
	times map[int64]time.Time // slot id -> sent (or answered) time; zero = in flight
}

// NewLimiter returns a limiter of n requests per window for the requests
// match accepts (nil = all).
func NewLimiter(n int, window time.Duration, match func(*http.Request) bool) *Limiter {
	return &Limiter{N: n, Window: window, Match: match}
}

type slot struct {
	l  *Limiter
	id int64
}

// wait is how long until a slot frees; callers hold the client's lock.
func (l *Limiter) wait(now time.Time) time.Duration {
	if l.N <= 0 {
		return 0
	}
	l.prune(now)
	if len(l.times) < l.N {
		return 0
	}
	// Full: the earliest slot to expire decides. In-flight slots count as
	// "now" (they expire at least Window after they complete).
	var earliest time.Time
	for _, t := range l.times {
		if t.IsZero() {
			t = now
		}
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	w := earliest.Add(l.Window).Sub(now)
	if w <= 0 {
		w = time.Millisecond
	}
	return w
}

func (l *Limiter) prune(now time.Time) {
	for id, t := range l.times {
		if !t.IsZero() && !now.Before(t.Add(l.Window)) {
			delete(l.times, id)
		}
	}
}

func (l *Limiter) take() slot {
	if l.times == nil {
		l.times = map[int64]time.Time{}
	}
	l.next++
	l.times[l.next] = time.Time{}
	return slot{l: l, id: l.next}
}

func (l *Limiter) stamp(id int64, now time.Time) {
	if _, ok := l.times[id]; ok {
		l.times[id] = now
	}
}

// CloseIdleConnections closes the underlying client's idle connections.
func (c *Client) CloseIdleConnections() { c.o.HTTPClient.CloseIdleConnections() }
