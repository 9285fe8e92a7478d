package hubspottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func do(t *testing.T, s *Server, method, path, tok, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp, m
}

func TestAuthAndRateLimitBodies(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(Options{Now: clk.Now, Burst: 3, Daily: 100})
	defer s.Close()
	resp, m := do(t, s, "GET", "/crm/v3/objects/contacts", "wrong", "")
	if resp.StatusCode != 401 || m["category"] != "INVALID_AUTHENTICATION" {
		t.Fatalf("401: %d %v", resp.StatusCode, m)
	}
	for i := 0; i < 3; i++ {
		resp, _ = do(t, s, "GET", "/crm/v3/objects/contacts", "test-token", "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if got := resp.Header.Get("X-HubSpot-RateLimit-Remaining"); got != fmt.Sprint(2-i) {
			t.Fatalf("remaining %q after %d", got, i+1)
		}
	}
	resp, m = do(t, s, "GET", "/crm/v3/objects/contacts", "test-token", "")
	if resp.StatusCode != 429 || m["errorType"] != "RATE_LIMIT" || m["policyName"] != "TEN_SECONDLY_ROLLING" || m["status"] != "error" {
		t.Fatalf("429: %d %v", resp.StatusCode, m)
	}
	for _, h := range []string{"X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	clk.Advance(10 * time.Second) // the rolling window has passed
	if resp, _ = do(t, s, "GET", "/crm/v3/objects/contacts", "test-token", ""); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
	if s.Stats().RateLimited != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestSearchCapLagAndBatchLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := New(Options{Now: clk.Now, Lag: 5 * time.Second})
	defer s.Close()
	for i := 0; i < 10005; i++ {
		s.Create(map[string]string{"email": fmt.Sprintf("c%d@example.com", i)})
	}
	q := `{"filterGroups":[{"filters":[{"propertyName":"lastmodifieddate","operator":"GTE","value":"0"}]}],"limit":200%s}`
	_, m := do(t, s, "POST", "/crm/v3/objects/contacts/search", "test-token", fmt.Sprintf(q, ""))
	if m["total"].(float64) != 0 {
		t.Fatalf("lagging index should show nothing yet: %v", m["total"])
	}
	clk.Advance(5 * time.Second)
	_, m = do(t, s, "POST", "/crm/v3/objects/contacts/search", "test-token", fmt.Sprintf(q, `,"after":"9800"`))
	if m["total"].(float64) != 10005 || len(m["results"].([]any)) != 200 {
		t.Fatalf("total %v results %d", m["total"], len(m["results"].([]any)))
	}
	resp, m := do(t, s, "POST", "/crm/v3/objects/contacts/search", "test-token", fmt.Sprintf(q, `,"after":"10000"`))
	if resp.StatusCode != 400 || m["category"] != "VALIDATION_ERROR" {
		t.Fatalf("past the cap: %d %v", resp.StatusCode, m)
	}
	var in []string
	for i := 0; i < 101; i++ {
		in = append(in, fmt.Sprintf(`{"id":"%d"}`, 101+i))
	}
	resp, _ = do(t, s, "POST", "/crm/v3/objects/contacts/batch/read", "test-token", `{"inputs":[`+strings.Join(in, ",")+`]}`)
	if resp.StatusCode != 400 {
		t.Fatalf("101 inputs: %d", resp.StatusCode)
	}
	resp, m = do(t, s, "POST", "/crm/v3/objects/contacts/batch/create", "test-token", `{"inputs":[{"properties":{"email":"new@example.com"}},{"properties":{"email":"C7@example.com"}}]}`)
	if resp.StatusCode != 409 || !strings.Contains(m["message"].(string), "Contact already exists. Existing ID: 108") {
		t.Fatalf("duplicate: %d %v", resp.StatusCode, m)
	}
	if s.Count() != 10005 {
		t.Fatal("a refused batch must create nothing")
	}
}
