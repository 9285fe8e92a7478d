// Package hubspot is the "hubspot" connector: HubSpot CRM v3 contacts over
// a private app token.
//
// Changes. cursor "" (and every FullEvery, default 24 h, or every
// FullEveryRuns runs) is a full listing (GET /crm/v3/objects/contacts,
// 100 a page, Full=true, Records filled): it also reconciles ids that
// vanished without a trace (GDPR deletes). Otherwise the CRM search API
// lists contacts whose lastmodifieddate is >= the newest one seen last time
// minus Overlap (default 2 min: search results lag writes by seconds), 200 a
// page sorted by lastmodifieddate. Search refuses to page past 10,000
// results; when a query has more, the connector switches to keyset paging
// (filter hs_object_id GT the last id, sorted by hs_object_id), so any
// number of changes is seen. Archived contacts come from the archived=true
// listing (archivedAt since the cursor) as Deleted items. The cursor is JSON
// {"t": newest lastmodifieddate (ms), "full": last full listing (ms),
// "runs": incremental runs since}.
//
// Dates. Property types come from GET /crm/v3/properties/contacts, fetched
// once per connection (one request) the first time records are read or
// written; should that fail (missing scope) a built-in list of known date
// properties is used. `date` values are read as YYYY-MM-DD or epoch millis
// and handed out as YYYY-MM-DD; written as YYYY-MM-DD. `datetime` values are
// handed out as ISO 8601 UTC with milliseconds.
//
// Limits. Requests are paced from the start with two sliding-window
// limiters: the plan's burst limit (all requests, see Plans) and the search
// API's 4 per second. X-HubSpot-RateLimit-Remaining near zero slows down
// further (other apps share the account's budget). A 429 waits (Retry-After
// if sent, else by policyName: SECONDLY 1 s, TEN_SECONDLY_ROLLING growing
// from 1 s to the interval) and retries; DAILY stops the run. 5xx, timeouts
// and connection errors are retried with backoff and jitter for reads,
// searches, updates and archives, never for creates (a create that may have
// happened is left to the engine's pending-create resolution).
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/sync/connector"
	"tandem/sync/connector/httpx"
)

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// Plan is one subscription tier's API limits for a private app.
type Plan struct {
	Burst  int           // requests per Window
	Window time.Duration // rolling burst window
	Daily  int           // requests per day
}

// Plans are HubSpot's private-app limits per subscription tier (HubSpot
// "API usage guidelines" and the changelog "Increasing our API limits":
// Professional and Enterprise went from 150 to 190 per 10 s).
var Plans = map[string]Plan{
	"free":         {Burst: 100, Window: 10 * time.Second, Daily: 250_000},
	"starter":      {Burst: 100, Window: 10 * time.Second, Daily: 250_000},
	"professional": {Burst: 190, Window: 10 * time.Second, Daily: 650_000},
	"enterprise":   {Burst: 190, Window: 10 * time.Second, Daily: 1_000_000},
	// The "API limit increase" capacity pack: 250 per 10 s, +1M a day.
	"capacity-pack": {Burst: 250, Window: 10 * time.Second, Daily: 1_650_000},
}

// SearchPerSecond is the CRM search API's own limit.
const SearchPerSecond = 4

const (
	searchCap      = 10000 // search refuses to page past this many results
	searchPageSize = 200   // search page maximum
	listPageSize   = 100   // list page maximum
	batchSize      = 100   // batch endpoints' maximum
)

func init() {
	connector.Register(connector.Kind{
		Name:  "hubspot",
		Label: "HubSpot contacts",
		Settings: []connector.Setting{
			{Key: "base_url", Label: "API address", Default: DefaultBaseURL, Hint: "change only for a test server"},
			{Key: "plan", Label: "Subscription", Default: "free", Hint: "free, starter, professional, enterprise or capacity-pack: sets the request pace"},
		},
		NeedsSecret: true,
		SecretLabel: "Private app token",
		Open:        func(cfg connector.Config) (connector.Connector, error) { return New(cfg, Options{}) },
	})
}

// Options tune a connection beyond its settings (tests, benchmarks).
type Options struct {
	HTTPClient    *http.Client
	Now           func() time.Time                                 // clock (default time.Now)
	Sleep         func(ctx context.Context, d time.Duration) error // waits (default a timer)
	Overlap       time.Duration                                    // search lag allowance (default 2 min)
	FullEvery     time.Duration                                    // full reconciliation period (default 24 h)
	FullEveryRuns int                                              // also every N incremental runs (0 = off)
	MaxRetries    int                                              // default 4
	BaseBackoff   time.Duration                                    // default 500 ms
	Timeout       time.Duration                                    // per attempt (default 30 s)
	Logf          func(format string, args ...any)
}

// Connector is an open HubSpot connection.
type Connector struct {
	name   string
	base   string
	token  string
	fields []string
	plan   Plan
	o      Options
	http   *httpx.Client

	typesMu sync.Mutex
	types   map[string]string
}

var _ connector.KeyFinder = (*Connector)(nil)

// New opens a connection (no request is made).
func New(cfg connector.Config, o Options) (*Connector, error) {
	base := strings.TrimRight(cfg.Settings["base_url"], "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("connection %q: base_url %q is not an http(s) address", cfg.Name, base)
	}
	planName := strings.ToLower(strings.TrimSpace(cfg.Settings["plan"]))
	if planName == "" {
		planName = "free"
	}
	plan, ok := Plans[planName]
	if !ok {
		names := make([]string, 0, len(Plans))
		for n := range Plans {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("connection %q: unknown plan %q (one of %s)", cfg.Name, planName, strings.Join(names, ", "))
	}
	if cfg.Secret == "" {
		return nil, fmt.Errorf("connection %q: no private app token: set it in Settings", cfg.Name)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Overlap == 0 {
		o.Overlap = 2 * time.Minute
	}
	if o.FullEvery == 0 {
		o.FullEvery = 24 * time.Hour
	}
	h := &Connector{name: cfg.Name, base: base, token: cfg.Secret, fields: cfg.Fields, plan: plan, o: o}
	isSearch := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/search") }
	h.http = httpx.New(httpx.Options{
		HTTPClient:  o.HTTPClient,
		Timeout:     o.Timeout,
		MaxRetries:  o.MaxRetries,
		BaseBackoff: o.BaseBackoff,
		Sleep:       o.Sleep,
		Now:         o.Now,
		Logf:        o.Logf,
		Limiters: []*httpx.Limiter{
			httpx.NewLimiter(plan.Burst, plan.Window, nil),
			httpx.NewLimiter(SearchPerSecond, time.Second, isSearch),
		},
		RateLimited: h.rateLimited,
		OnResponse:  h.observe,
	})
	return h, nil
}

// Stats returns the HTTP counters (requests, 429s, retries).
func (h *Connector) Stats() httpx.Stats { return h.http.Stats() }

// Capabilities implements connector.Connector.
func (h *Connector) Capabilities() connector.Capabilities {
	return connector.Capabilities{Incremental: true, Conditional: false, MaxBatch: batchSize}
}

// Close implements connector.Connector.
func (h *Connector) Close() error { return nil }

// ---- errors ----

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return connector.ErrAuth }

type dailyError struct{ conn string }

func (e *dailyError) Error() string {
	return fmt.Sprintf("HubSpot daily API limit reached for %s: the run stops; the limit resets at midnight in the account's time zone", e.conn)
}
func (e *dailyError) Unwrap() error { return connector.ErrUnreachable }

// hsError is HubSpot's error body.
type hsError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category"`
	Context       map[string][]string `json:"context"`
	Errors        []struct {
		Message string          `json:"message"`
		Code    string          `json:"code"`
		In      string          `json:"in"`
		Context json.RawMessage `json:"context"`
	} `json:"errors"`
	ErrorType  string `json:"errorType"`
	PolicyName string `json:"policyName"`
}

// text is a readable one-line message.
func (e hsError) text() string {
	var b strings.Builder
	b.WriteString("HubSpot")
	if e.Category != "" {
		b.WriteString(" " + e.Category)
	}
	b.WriteString(": ")
	msg := e.Message
	if msg == "" {
		msg = "request refused"
	}
	b.WriteString(msg)
	var details []string
	for _, d := range e.Errors {
		if d.Message != "" && !strings.Contains(msg, d.Message) {
			details = append(details, d.Message)
		}
	}
	keys := make([]string, 0, len(e.Context))
	for k := range e.Context {
		if k != "objectWriteTraceId" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		details = append(details, k+": "+strings.Join(e.Context[k], ", "))
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, "; ") + ")")
	}
	if e.CorrelationID != "" {
		b.WriteString(" [correlation id " + e.CorrelationID + "]")
	}
	return b.String()
}

func parseErr(status int, body []byte) hsError {
	var e hsError
	if json.Unmarshal(body, &e) != nil || (e.Message == "" && e.Category == "") {
		e = hsError{Message: fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))}
	}
	return e
}

// recordError is a per-record error with HubSpot's message.
type recordError struct {
	msg  string
	base error // connector.ErrNotFound, ErrInvalidRecord or nil
}

func (e *recordError) Error() string { return e.msg }
func (e *recordError) Unwrap() error { return e.base }

func toRecordError(e hsError) error {
	if id := existingID(e.Message); id != "" {
		return &connector.AlreadyExistsError{ExistingID: id}
	}
	var base error
	switch e.Category {
	case "OBJECT_NOT_FOUND":
		base = connector.ErrNotFound
	case "VALIDATION_ERROR":
		base = connector.ErrInvalidRecord
	}
	return &recordError{msg: e.text(), base: base}
}

var existingRe = regexp.MustCompile(`Existing ID: ?(\d+)`)

func existingID(msg string) string {
	if m := existingRe.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// ---- rate limits ----

func (h *Connector) rateLimited(resp *http.Response, body []byte, attempt int) (time.Duration, error) {
	var e hsError
	_ = json.Unmarshal(body, &e)
	switch e.PolicyName {
	case "DAILY":
		return 0, &dailyError{conn: h.name}
	case "SECONDLY":
		return time.Second, nil
	}
	interval := h.plan.Window
	if ms, err := strconv.Atoi(resp.Header.Get("X-HubSpot-RateLimit-Interval-Milliseconds")); err == nil && ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	d := time.Second << min(attempt, 5)
	return min(d, interval), nil
}

// observe slows down when the account's remaining burst budget runs low
// (other apps share it): at zero, wait half an interval; below 5 %, space
// requests at the steady rate (interval/max).
func (h *Connector) observe(resp *http.Response) {
	rem, err1 := strconv.Atoi(resp.Header.Get("X-HubSpot-RateLimit-Remaining"))
	mx, err2 := strconv.Atoi(resp.Header.Get("X-HubSpot-RateLimit-Max"))
	ms, err3 := strconv.Atoi(resp.Header.Get("X-HubSpot-RateLimit-Interval-Milliseconds"))
	if err1 != nil || err2 != nil || err3 != nil || mx <= 0 || ms <= 0 || resp.StatusCode == http.StatusTooManyRequests {
		return
	}
	interval := time.Duration(ms) * time.Millisecond
	switch {
	case rem <= 0:
		h.http.Delay(interval / 2)
	case rem < max(2, mx/20):
		h.http.Delay(interval / time.Duration(mx))
	}
}

// ---- requests ----

// call sends one API request. A 2xx body is decoded into out; for any other
// final status the status and body are returned with a nil error, except
// 401/403 (auth error) and failures after retries (unreachable).
func (h *Connector) call(ctx context.Context, method, path string, q url.Values, body any, retry bool, out any) (int, []byte, error) {
	u := h.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("HubSpot %s: %v", h.name, err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if retry {
		req = httpx.MarkRetryable(req)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		var de *dailyError
		if errors.As(err, &de) {
			return 0, nil, de
		}
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		var he *httpx.Error
		if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
			return 0, nil, fmt.Errorf("%w: HubSpot %s kept answering 429 (rate limited): %v", connector.ErrUnreachable, h.name, err)
		}
		return 0, nil, fmt.Errorf("%w: HubSpot %s: %v", connector.ErrUnreachable, h.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: HubSpot %s: reading %s %s: %v", connector.ErrUnreachable, h.name, method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return 0, nil, &authError{msg: fmt.Sprintf("HubSpot refused the private app token for %s: check it in Settings", h.name)}
	case http.StatusForbidden:
		e := parseErr(resp.StatusCode, raw)
		return 0, nil, &authError{msg: fmt.Sprintf("HubSpot private app token for %s lacks a permission (%s): give the app the crm.objects.contacts read and write scopes", h.name, e.Message)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, nil, fmt.Errorf("HubSpot %s: unreadable answer to %s %s: %v", h.name, method, path, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// unexpected is a whole-call error for an answer the connector cannot use.
func (h *Connector) unexpected(method, path string, status int, raw []byte) error {
	return fmt.Errorf("HubSpot %s: %s %s answered %d: %s", h.name, method, path, status, parseErr(status, raw).text())
}

// ---- objects ----

type object struct {
	ID         string             `json:"id"`
	Properties map[string]*string `json:"properties"`
	CreatedAt  string             `json:"createdAt"`
	UpdatedAt  string             `json:"updatedAt"`
	Archived   bool               `json:"archived"`
	ArchivedAt string             `json:"archivedAt"`
}

type paging struct {
	Next *struct {
		After string `json:"after"`
	} `json:"next"`
}

type listPage struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  paging   `json:"paging"`
}

func (p listPage) next() string {
	if p.Paging.Next == nil {
		return ""
	}
	return p.Paging.Next.After
}

const isoMillis = "2006-01-02T15:04:05.000Z"

func parseISO(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func (o object) prop(name string) string {
	if v := o.Properties[name]; v != nil {
		return *v
	}
	return ""
}

// modified is the object's last modification: updatedAt, else lastmodifieddate.
func (o object) modified() time.Time {
	if t := parseISO(o.UpdatedAt); !t.IsZero() {
		return t
	}
	return parseTime(o.prop("lastmodifieddate"))
}

// propTypes fetches property definitions once per connection.
func (h *Connector) propTypes(ctx context.Context) (map[string]string, error) {
	h.typesMu.Lock()
	defer h.typesMu.Unlock()
	if h.types != nil {
		return h.types, nil
	}
	var out struct {
		Results []struct{ Name, Type string } `json:"results"`
	}
	status, _, err := h.call(ctx, http.MethodGet, "/crm/v3/properties/contacts", nil, nil, true, &out)
	if err != nil {
		var ae *authError
		if !errors.As(err, &ae) || !strings.Contains(ae.msg, "lacks a permission") {
			return nil, err
		}
		// No schema scope: fall back to the known date properties.
	}
	if status == http.StatusOK && len(out.Results) > 0 {
		h.types = map[string]string{}
		for _, p := range out.Results {
			h.types[p.Name] = p.Type
		}
	} else {
		h.types = knownTypes
	}
	return h.types, nil
}

// knownTypes is the fallback when property definitions cannot be read.
var knownTypes = map[string]string{
	"date_of_birth": "date", "createdate": "datetime", "lastmodifieddate": "datetime",
	"closedate": "datetime", "hs_lastmodifieddate": "datetime", "first_deal_created_date": "datetime",
	"hs_object_id": "number",
}

func parseTime(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	if t := parseISO(v); !t.IsZero() {
		return t
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t
	}
	return time.Time{}
}

// readValue normalises a property value as read.
func readValue(typ, v string) string {
	switch typ {
	case "date":
		if t := parseTime(v); !t.IsZero() {
			return t.Format("2006-01-02")
		}
	case "datetime":
		if t := parseTime(v); !t.IsZero() {
			return t.Format(isoMillis)
		}
	}
	return v
}

// writeValue normalises a value to send.
func writeValue(typ, v string) string {
	if v == "" {
		return v
	}
	switch typ {
	case "date":
		if t := parseTime(v); !t.IsZero() {
			return t.Format("2006-01-02")
		}
	case "datetime":
		if t := parseTime(v); !t.IsZero() {
			return t.Format(isoMillis)
		}
	}
	return v
}

func (h *Connector) record(o object, types map[string]string) connector.Record {
	mod := o.modified()
	r := connector.Record{ID: o.ID, Modified: mod, Fields: map[string]string{}}
	if !mod.IsZero() {
		r.Version = mod.Format(isoMillis)
	}
	if len(h.fields) > 0 {
		for _, f := range h.fields {
			if v := o.prop(f); v != "" {
				r.Fields[f] = readValue(types[f], v)
			}
		}
	} else {
		for k, v := range o.Properties {
			if v != nil && *v != "" {
				r.Fields[k] = readValue(types[k], *v)
			}
		}
	}
	return r
}

func (h *Connector) properties(extra ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range append(append([]string{}, h.fields...), extra...) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ---- Changes ----

type cursorState struct {
	T    int64 `json:"t"`    // newest lastmodifieddate seen (ms)
	Full int64 `json:"full"` // when the last full listing ran (ms, local clock)
	Runs int   `json:"runs"` // incremental runs since
}

// Changes implements connector.Connector.
func (h *Connector) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	types, err := h.propTypes(ctx)
	if err != nil {
		return connector.Changes{}, err
	}
	var cs cursorState
	now := h.o.Now()
	full := cursor == "" || json.Unmarshal([]byte(cursor), &cs) != nil || cs.T == 0
	if !full && now.Sub(time.UnixMilli(cs.Full)) >= h.o.FullEvery {
		full = true
	}
	if !full && h.o.FullEveryRuns > 0 && cs.Runs+1 >= h.o.FullEveryRuns {
		full = true
	}
	if full {
		return h.fullListing(ctx, types, now)
	}
	since := time.UnixMilli(cs.T).Add(-h.o.Overlap)
	recs, newest, err := h.searchSince(ctx, since, types)
	if err != nil {
		return connector.Changes{}, err
	}
	archived, err := h.archivedSince(ctx, since)
	if err != nil {
		return connector.Changes{}, err
	}
	out := connector.Changes{}
	for _, r := range recs {
		if archived[r.ID] {
			continue // the search index may still show an archived contact
		}
		r := r
		out.Items = append(out.Items, connector.Item{ID: r.ID, Version: r.Version, Record: &r})
	}
	ids := make([]string, 0, len(archived))
	for id := range archived {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out.Items = append(out.Items, connector.Item{ID: id, Deleted: true})
	}
	next := cursorState{T: max(cs.T, newest), Full: cs.Full, Runs: cs.Runs + 1}
	out.Cursor = next.encode()
	return out, nil
}

func (c cursorState) encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

func (h *Connector) fullListing(ctx context.Context, types map[string]string, now time.Time) (connector.Changes, error) {
	out := connector.Changes{Full: true}
	var newest int64
	q := url.Values{}
	if props := strings.Join(h.properties("lastmodifieddate"), ","); props != "" {
		q.Set("properties", props)
	}
	err := h.eachContactPage(ctx, q, func(page listPage) {
		for _, o := range page.Results {
			r := h.record(o, types)
			out.Items = append(out.Items, connector.Item{ID: r.ID, Version: r.Version, Record: &r})
			newest = max(newest, r.Modified.UnixMilli())
		}
	})
	if err != nil {
		return out, err
	}
	if newest == 0 {
		newest = now.UnixMilli() // empty account: start from now
	}
	out.Cursor = cursorState{T: newest, Full: now.UnixMilli()}.encode()
	return out, nil
}

// eachContactPage walks the contacts listing (query q plus the page size
// and position) and hands each page to fn.
func (h *Connector) eachContactPage(ctx context.Context, q url.Values, fn func(listPage)) error {
	const path = "/crm/v3/objects/contacts"
	q.Set("limit", strconv.Itoa(listPageSize))
	for {
		var page listPage
		status, raw, err := h.call(ctx, http.MethodGet, path, q, nil, true, &page)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			shown := path
			if q.Get("archived") == "true" {
				shown += "?archived=true"
			}
			return h.unexpected("GET", shown, status, raw)
		}
		fn(page)
		after := page.next()
		if after == "" {
			return nil
		}
		q.Set("after", after)
	}
}

type searchFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchBody struct {
	FilterGroups []map[string][]searchFilter `json:"filterGroups"`
	Sorts        []searchSort                `json:"sorts"`
	Properties   []string                    `json:"properties"`
	Limit        int                         `json:"limit"`
	After        string                      `json:"after,omitempty"`
}

func (h *Connector) search(ctx context.Context, b searchBody) (listPage, error) {
	var page listPage
	const path = "/crm/v3/objects/contacts/search"
	status, raw, err := h.call(ctx, http.MethodPost, path, nil, b, true, &page)
	if err != nil {
		return page, err
	}
	if status != http.StatusOK {
		return page, h.unexpected("POST", path, status, raw)
	}
	return page, nil
}

// searchSince returns every contact modified at or after since, and the
// newest lastmodifieddate to start from next time.
func (h *Connector) searchSince(ctx context.Context, since time.Time, types map[string]string) ([]connector.Record, int64, error) {
	props := h.properties("lastmodifieddate")
	bySince := searchFilter{PropertyName: "lastmodifieddate", Operator: "GTE", Value: strconv.FormatInt(since.UnixMilli(), 10)}
	found := map[string]connector.Record{}
	var order []string
	var newest int64
	add := func(objs []object) {
		for _, o := range objs {
			r := h.record(o, types)
			if old, ok := found[r.ID]; !ok {
				order = append(order, r.ID)
			} else if old.Modified.After(r.Modified) {
				continue
			}
			found[r.ID] = r
			newest = max(newest, r.Modified.UnixMilli())
		}
	}

	// Usual case: under 10,000 changes, in lastmodifieddate order.
	body := searchBody{
		FilterGroups: []map[string][]searchFilter{{"filters": {bySince}}},
		Sorts:        []searchSort{{"lastmodifieddate", "ASCENDING"}},
		Properties:   props, Limit: searchPageSize,
	}
	capped := false
	for {
		page, err := h.search(ctx, body)
		if err != nil {
			return nil, 0, err
		}
		add(page.Results)
		if page.Total > searchCap {
			capped = true
			break
		}
		next := page.next()
		if next == "" {
			break
		}
		if n, _ := strconv.Atoi(next); n >= searchCap {
			capped = true
			break
		}
		body.After = next
	}
	if capped {
		// Keyset paging by id. The newest lastmodifieddate at the start is
		// the next cursor: changes made during the scan are at or after it.
		top, err := h.search(ctx, searchBody{
			FilterGroups: []map[string][]searchFilter{{"filters": {bySince}}},
			Sorts:        []searchSort{{"lastmodifieddate", "DESCENDING"}},
			Properties:   []string{"lastmodifieddate"}, Limit: 1,
		})
		if err != nil {
			return nil, 0, err
		}
		startNewest := int64(0)
		if len(top.Results) > 0 {
			startNewest = top.Results[0].modified().UnixMilli()
		}
		lastID := "0"
		for {
			body := searchBody{
				FilterGroups: []map[string][]searchFilter{{"filters": {bySince, {PropertyName: "hs_object_id", Operator: "GT", Value: lastID}}}},
				Sorts:        []searchSort{{"hs_object_id", "ASCENDING"}},
				Properties:   props, Limit: searchPageSize,
			}
			again := false
			for {
				page, err := h.search(ctx, body)
				if err != nil {
					return nil, 0, err
				}
				add(page.Results)
				if len(page.Results) > 0 {
					lastID = page.Results[len(page.Results)-1].ID
				}
				next := page.next()
				if next == "" {
					break
				}
				if n, _ := strconv.Atoi(next); n >= searchCap {
					again = true // restart past the last id seen
					break
				}
				body.After = next
			}
			if !again {
				break
			}
		}
		if startNewest > 0 {
			newest = min(newest, startNewest)
		}
	}
	out := make([]connector.Record, 0, len(order))
	for _, id := range order {
		out = append(out, found[id])
	}
	return out, newest, nil
}

// archivedSince lists contacts archived at or after since. HubSpot cannot
// filter the archived listing, so it is read in full (100 a page).
func (h *Connector) archivedSince(ctx context.Context, since time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	q := url.Values{"archived": {"true"}, "properties": {"hs_object_id"}}
	err := h.eachContactPage(ctx, q, func(page listPage) {
		for _, o := range page.Results {
			if at := parseISO(o.ArchivedAt); at.IsZero() || !at.Before(since) {
				out[o.ID] = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- Get, FindByField, Test ----

type batchResp struct {
	Status  string    `json:"status"`
	Results []object  `json:"results"`
	Errors  []hsError `json:"errors"`
}

// Get implements connector.Connector.
func (h *Connector) Get(ctx context.Context, ids []string) ([]connector.Record, error) {
	types, err := h.propTypes(ctx)
	if err != nil {
		return nil, err
	}
	const path = "/crm/v3/objects/contacts/batch/read"
	var out []connector.Record
	for start := 0; start < len(ids); start += batchSize {
		chunk := ids[start:min(start+batchSize, len(ids))]
		inputs := make([]map[string]string, len(chunk))
		for i, id := range chunk {
			inputs[i] = map[string]string{"id": id}
		}
		body := map[string]any{"properties": h.properties("lastmodifieddate"), "inputs": inputs}
		var resp batchResp
		status, raw, err := h.call(ctx, http.MethodPost, path, nil, body, true, &resp)
		if err != nil {
			return nil, err
		}
		switch status {
		case http.StatusOK, http.StatusMultiStatus: // 207: some ids not found, left out
		case http.StatusNotFound:
			continue
		default:
			return nil, h.unexpected("POST", path, status, raw)
		}
		for _, o := range resp.Results {
			out = append(out, h.record(o, types))
		}
	}
	return out, nil
}

// FindByField implements connector.KeyFinder. Email is looked up directly
// (GET by idProperty=email: no search lag, so a contact created a moment
// ago is found); other fields through search (EQ).
func (h *Connector) FindByField(ctx context.Context, field, value string) ([]connector.Record, error) {
	types, err := h.propTypes(ctx)
	if err != nil {
		return nil, err
	}
	if value == "" {
		return nil, nil
	}
	if field == "email" {
		path := "/crm/v3/objects/contacts/" + url.PathEscape(value)
		q := url.Values{"idProperty": {"email"}}
		if p := h.properties("lastmodifieddate"); len(p) > 0 {
			q.Set("properties", strings.Join(p, ","))
		}
		var o object
		status, raw, err := h.call(ctx, http.MethodGet, path, q, nil, true, &o)
		if err != nil {
			return nil, err
		}
		switch status {
		case http.StatusOK:
			return []connector.Record{h.record(o, types)}, nil
		case http.StatusNotFound:
			return nil, nil
		}
		return nil, h.unexpected("GET", "/crm/v3/objects/contacts/{email}", status, raw)
	}
	page, err := h.search(ctx, searchBody{
		FilterGroups: []map[string][]searchFilter{{"filters": {{PropertyName: field, Operator: "EQ", Value: writeValue(types[field], value)}}}},
		Sorts:        []searchSort{{"hs_object_id", "ASCENDING"}},
		Properties:   h.properties("lastmodifieddate"), Limit: 100,
	})
	if err != nil {
		return nil, err
	}
	out := make([]connector.Record, 0, len(page.Results))
	for _, o := range page.Results {
		out = append(out, h.record(o, types))
	}
	return out, nil
}

// Test implements connector.Connector: one 1-contact page.
func (h *Connector) Test(ctx context.Context) error {
	status, raw, err := h.call(ctx, http.MethodGet, "/crm/v3/objects/contacts", url.Values{"limit": {"1"}}, nil, true, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return h.unexpected("GET", "/crm/v3/objects/contacts", status, raw)
	}
	return nil
}
