// Package hubspottest is a local fake of the HubSpot CRM v3 contacts API,
// written from HubSpot's public documentation, for tests and benchmarks:
//
//   - Bearer private-app token (401 INVALID_AUTHENTICATION body otherwise);
//   - GET /crm/v3/objects/contacts (limit <= 100, `after` paging,
//     `archived=true`), GET/PATCH /crm/v3/objects/contacts/{id}
//     (`idProperty=email`), POST /crm/v3/objects/contacts;
//   - POST /crm/v3/objects/contacts/search: filterGroups (OR of ANDed
//     filters; EQ NEQ GT GTE LT LTE HAS_PROPERTY NOT_HAS_PROPERTY), one sort,
//     limit <= 200, `after` offset paging, the 10,000-result cap (a 400 when
//     paging at or past it) and SEARCH LAG: a write becomes visible to search
//     only Lag after it happened (until then search sees the old version);
//   - batch/read|create|update|archive of at most 100 inputs (400 above),
//     207 multi-status partial results, 409 "Contact already exists.
//     Existing ID: N" on a duplicate email (a batch create fails whole unless
//     MultiStatusCreate is on and every input has an objectWriteTraceId);
//   - GET /crm/v3/properties/contacts with property types;
//   - rate limits: Burst per BurstWindow rolling (TEN_SECONDLY_ROLLING), a
//     search limit per second (SECONDLY), a daily limit (DAILY), 429 bodies
//     as documented and X-HubSpot-RateLimit-* headers on every answer;
//   - injectable 5xx faults; `date` properties stored as midnight-UTC epoch
//     millis (DatesAsMillis) or YYYY-MM-DD; counters per endpoint.
//
// All times come from Options.Now so tests can run on a fake clock.
package hubspottest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure the fake.
type Options struct {
	Token string           // accepted private app token (default "test-token")
	Now   func() time.Time // clock (default time.Now)
	Lag   time.Duration    // search lag

	Burst           int           // requests per BurstWindow (0 = unlimited)
	BurstWindow     time.Duration // default 10 s
	SearchPerSecond int           // search requests per SearchWindow (0 = unlimited)
	SearchWindow    time.Duration // default 1 s
	Daily           int           // requests per day (0 = unlimited)

	DatesAsMillis     bool // store `date` properties as midnight-UTC epoch millis
	MultiStatusCreate bool // batch create answers 207 per input when trace ids are given
	// Invalid, when set, rejects a write: it returns the reason ("" = valid).
	Invalid func(props map[string]string) string
}

// Stats are the fake's counters.
type Stats struct {
	Requests    map[string]int // by endpoint, e.g. "search", "list", "batch/create"
	Total       int
	RateLimited int // 429s sent
}

type snapshot struct {
	props     map[string]string
	updatedAt time.Time
	visibleAt time.Time
	archived  bool
}

type contact struct {
	id         int64
	props      map[string]string
	createdAt  time.Time
	updatedAt  time.Time
	archived   bool
	archivedAt time.Time
	index      *snapshot  // what search sees
	pending    []snapshot // versions not yet visible to search
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	o Options

	mu        sync.Mutex
	contacts  map[int64]*contact
	nextID    int64
	faults    []int
	stats     Stats
	burst     []time.Time
	searches  []time.Time
	dailyUsed int
	corr      int
}

// PropertyTypes are the property definitions the fake serves.
var PropertyTypes = map[string]string{
	"email": "string", "firstname": "string", "lastname": "string", "phone": "string",
	"mobilephone": "string", "company": "string", "jobtitle": "string", "city": "string",
	"date_of_birth": "date", "hs_object_id": "number", "createdate": "datetime",
	"lastmodifieddate": "datetime", "closedate": "datetime",
}

// New starts a fake.
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = "test-token"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BurstWindow == 0 {
		o.BurstWindow = 10 * time.Second
	}
	if o.SearchWindow == 0 {
		o.SearchWindow = time.Second
	}
	s := &Server{o: o, contacts: map[int64]*contact{}, nextID: 100}
	s.stats.Requests = map[string]int{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetLag changes the search lag for later writes.
func (s *Server) SetLag(d time.Duration) { s.mu.Lock(); s.o.Lag = d; s.mu.Unlock() }

// Fail makes the next n API requests answer status (e.g. 500, 502).
func (s *Server) Fail(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, status)
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = map[string]int{}
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	s.stats = Stats{Requests: map[string]int{}}
	s.mu.Unlock()
}

// Create adds a contact directly (no request counted) and returns its id.
func (s *Server) Create(props map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.create(props)
	return strconv.FormatInt(c.id, 10)
}

// Update changes a contact directly, as a person in HubSpot would.
func (s *Server) Update(id string, props map[string]string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookup(id)
	if c == nil {
		return false
	}
	s.update(c, props)
	return true
}

// Archive archives (soft-deletes) a contact directly.
func (s *Server) Archive(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lookup(id); c != nil {
		s.archive(c)
	}
}

// Purge removes a contact for good (a GDPR delete: not in the archived list).
func (s *Server) Purge(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(id, 10, 64)
	delete(s.contacts, n)
}

// Contact returns a live contact's stored properties.
func (s *Server) Contact(id string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.lookup(id)
	if c == nil {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range c.props {
		out[k] = v
	}
	return out, true
}

// Count returns the number of live (not archived) contacts.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.contacts {
		if !c.archived {
			n++
		}
	}
	return n
}

// ---- store ----

func (s *Server) lookup(id string) *contact {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	c := s.contacts[n]
	if c == nil || c.archived {
		return nil
	}
	return c
}

func (s *Server) byEmail(email string) *contact {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil
	}
	for _, c := range s.contacts {
		if !c.archived && strings.ToLower(c.props["email"]) == email {
			return c
		}
	}
	return nil
}

func (s *Server) storeValue(name, v string) string {
	if PropertyTypes[name] != "date" || v == "" {
		return v
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		if s.o.DatesAsMillis {
			return strconv.FormatInt(t.UnixMilli(), 10)
		}
		return v
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && !s.o.DatesAsMillis {
		return time.UnixMilli(ms).UTC().Format("2006-01-02")
	}
	return v
}

// validDate reports whether v is a date HubSpot accepts: YYYY-MM-DD or
// epoch millis at midnight UTC.
func validDate(v string) bool {
	if v == "" {
		return true
	}
	if _, err := time.Parse("2006-01-02", v); err == nil {
		return true
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	return err == nil && ms%86400000 == 0
}

func (s *Server) validate(props map[string]string) string {
	for k, v := range props {
		if PropertyTypes[k] == "date" && !validDate(v) {
			return fmt.Sprintf("Property values were not valid: %s %q is not a valid date (YYYY-MM-DD or midnight UTC epoch millis)", k, v)
		}
	}
	if s.o.Invalid != nil {
		return s.o.Invalid(props)
	}
	return ""
}

func (s *Server) create(props map[string]string) *contact {
	now := s.o.Now()
	s.nextID++
	c := &contact{id: s.nextID, props: map[string]string{}, createdAt: now}
	for k, v := range props {
		if v != "" {
			c.props[k] = s.storeValue(k, v)
		}
	}
	s.contacts[c.id] = c
	s.touch(c, now)
	return c
}

func (s *Server) update(c *contact, props map[string]string) {
	for k, v := range props {
		if v == "" {
			delete(c.props, k)
		} else {
			c.props[k] = s.storeValue(k, v)
		}
	}
	s.touch(c, s.o.Now())
}

func (s *Server) archive(c *contact) {
	now := s.o.Now()
	c.archived, c.archivedAt = true, now
	c.pending = append(c.pending, snapshot{archived: true, updatedAt: c.updatedAt, visibleAt: now})
}

func (s *Server) touch(c *contact, now time.Time) {
	c.updatedAt = now
	snap := snapshot{props: map[string]string{}, updatedAt: now, visibleAt: now.Add(s.o.Lag)}
	for k, v := range c.props {
		snap.props[k] = v
	}
	c.pending = append(c.pending, snap)
}

// indexed returns what search sees of c now (nil = not visible).
func (s *Server) indexed(c *contact, now time.Time) *snapshot {
	keep := c.pending[:0]
	for _, p := range c.pending {
		if !now.Before(p.visibleAt) {
			p := p
			c.index = &p
		} else {
			keep = append(keep, p)
		}
	}
	c.pending = keep
	if c.index == nil || c.index.archived {
		return nil
	}
	return c.index
}

// ---- HTTP ----

type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []map[string]any    `json:"errors,omitempty"`
	ErrorType     string              `json:"errorType,omitempty"`
	PolicyName    string              `json:"policyName,omitempty"`
}

func (s *Server) errBody(category, msg string) apiError {
	s.corr++
	return apiError{Status: "error", Message: msg, Category: category,
		CorrelationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", s.corr)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func endpoint(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/crm/v3/objects/contacts")
	switch {
	case strings.HasPrefix(r.URL.Path, "/crm/v3/properties/"):
		return "properties"
	case p == "/search":
		return "search"
	case strings.HasPrefix(p, "/batch/"):
		return strings.TrimPrefix(p, "/")
	case p == "" && r.Method == http.MethodGet:
		if r.URL.Query().Get("archived") == "true" {
			return "list-archived"
		}
		return "list"
	case p == "":
		return "create"
	}
	return strings.ToLower(r.Method) + "-one"
}

// limit enforces the rate limits; it returns the 429 policy hit or "".
func (s *Server) limit(now time.Time, search bool) string {
	prune := func(ts []time.Time, w time.Duration) []time.Time {
		i := 0
		for i < len(ts) && !now.Before(ts[i].Add(w)) {
			i++
		}
		return ts[i:]
	}
	s.burst = prune(s.burst, s.o.BurstWindow)
	s.searches = prune(s.searches, s.o.SearchWindow)
	switch {
	case s.o.Daily > 0 && s.dailyUsed >= s.o.Daily:
		return "DAILY"
	case s.o.Burst > 0 && len(s.burst) >= s.o.Burst:
		return "TEN_SECONDLY_ROLLING"
	case search && s.o.SearchPerSecond > 0 && len(s.searches) >= s.o.SearchPerSecond:
		return "SECONDLY"
	}
	s.burst = append(s.burst, now)
	if search {
		s.searches = append(s.searches, now)
	}
	s.dailyUsed++
	return ""
}

func (s *Server) headers(w http.ResponseWriter) {
	h := w.Header()
	if s.o.Daily > 0 {
		h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(s.o.Daily))
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(0, s.o.Daily-s.dailyUsed)))
	}
	if s.o.Burst > 0 {
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.o.BurstWindow.Milliseconds(), 10))
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.o.Burst))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(0, s.o.Burst-len(s.burst))))
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := endpoint(r)
	s.stats.Requests[ep]++
	s.stats.Total++
	if r.Header.Get("Authorization") != "Bearer "+s.o.Token {
		e := s.errBody("INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
		writeJSON(w, http.StatusUnauthorized, e)
		return
	}
	now := s.o.Now()
	if policy := s.limit(now, ep == "search"); policy != "" {
		s.stats.RateLimited++
		s.headers(w)
		e := s.errBody("", "")
		e.Category = ""
		e.ErrorType = "RATE_LIMIT"
		e.PolicyName = policy
		switch policy {
		case "DAILY":
			e.Message = "You have reached your daily limit."
		case "SECONDLY":
			e.Message = "You have reached your secondly limit."
		default:
			e.Message = "You have reached your ten_secondly_rolling limit."
		}
		writeJSON(w, http.StatusTooManyRequests, e)
		return
	}
	s.headers(w)
	if len(s.faults) > 0 {
		status := s.faults[0]
		s.faults = s.faults[1:]
		writeJSON(w, status, s.errBody("INTERNAL_ERROR", "internal error (injected)"))
		return
	}
	switch {
	case ep == "properties":
		s.properties(w)
	case ep == "list" || ep == "list-archived":
		s.list(w, r, ep == "list-archived")
	case ep == "search":
		s.search(w, r, now)
	case ep == "batch/read":
		s.batchRead(w, r)
	case ep == "batch/create":
		s.batchCreate(w, r)
	case ep == "batch/update":
		s.batchUpdate(w, r)
	case ep == "batch/archive":
		s.batchArchive(w, r)
	case ep == "create":
		s.createOne(w, r)
	case ep == "get-one":
		s.getOne(w, r)
	case ep == "patch-one":
		s.patchOne(w, r)
	default:
		writeJSON(w, http.StatusNotFound, s.errBody("OBJECT_NOT_FOUND", "no such endpoint"))
	}
}

func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type object struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
	CreatedAt  string            `json:"createdAt"`
	UpdatedAt  string            `json:"updatedAt"`
	Archived   bool              `json:"archived"`
	ArchivedAt string            `json:"archivedAt,omitempty"`
}

func render(c *contact, props map[string]string, updatedAt time.Time, want []string) object {
	id := strconv.FormatInt(c.id, 10)
	o := object{ID: id, Properties: map[string]string{
		"hs_object_id": id, "createdate": iso(c.createdAt), "lastmodifieddate": iso(updatedAt),
	}, CreatedAt: iso(c.createdAt), UpdatedAt: iso(updatedAt), Archived: c.archived}
	if c.archived {
		o.ArchivedAt = iso(c.archivedAt)
	}
	for _, p := range want {
		if v, ok := props[p]; ok {
			o.Properties[p] = v
		}
	}
	return o
}

func splitProps(q string) []string {
	var out []string
	for _, p := range strings.Split(q, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) properties(w http.ResponseWriter) {
	var res []map[string]string
	for name, typ := range PropertyTypes {
		ft := "text"
		if typ == "date" {
			ft = "date"
		}
		res = append(res, map[string]string{"name": name, "type": typ, "fieldType": ft})
	}
	sort.Slice(res, func(i, j int) bool { return res[i]["name"] < res[j]["name"] })
	writeJSON(w, 200, map[string]any{"results": res})
}

func (s *Server) sortedIDs() []int64 {
	ids := make([]int64, 0, len(s.contacts))
	for id := range s.contacts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, archived bool) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if limit < 1 || limit > 100 {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "limit must be between 1 and 100"))
		return
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	want := splitProps(q.Get("properties"))
	var results []object
	var next int64
	for _, id := range s.sortedIDs() {
		c := s.contacts[id]
		if id <= after || c.archived != archived {
			continue
		}
		if len(results) == limit {
			next = results[len(results)-1].idNum()
			break
		}
		results = append(results, render(c, c.props, c.updatedAt, want))
	}
	resp := map[string]any{"results": orEmpty(results)}
	if next != 0 {
		resp["paging"] = map[string]any{"next": map[string]string{"after": strconv.FormatInt(next, 10)}}
	}
	writeJSON(w, 200, resp)
}

func (o object) idNum() int64 { n, _ := strconv.ParseInt(o.ID, 10, 64); return n }

func orEmpty(o []object) []object {
	if o == nil {
		return []object{}
	}
	return o
}

type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

type searchReq struct {
	FilterGroups []struct {
		Filters []filter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      int               `json:"limit"`
	After      string            `json:"after"`
}

// cmp compares a property value with a filter value: times for datetime
// properties (millis or ISO), numbers for hs_object_id, strings otherwise.
func cmpValue(name, a, b string) int {
	switch PropertyTypes[name] {
	case "datetime", "date":
		ta, tb := parseTime(a), parseTime(b)
		return ta.Compare(tb)
	case "number":
		fa, _ := strconv.ParseFloat(a, 64)
		fb, _ := strconv.ParseFloat(b, 64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func parseTime(v string) time.Time {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(l, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// searchView is a contact as the search index has it.
type searchView struct {
	c    *contact
	snap *snapshot
}

func (v searchView) get(name string) (string, bool) {
	switch name {
	case "hs_object_id":
		return strconv.FormatInt(v.c.id, 10), true
	case "lastmodifieddate":
		return iso(v.snap.updatedAt), true
	case "createdate":
		return iso(v.c.createdAt), true
	}
	x, ok := v.snap.props[name]
	return x, ok
}

func match(f filter, props searchView) (bool, error) {
	v, has := props.get(f.PropertyName)
	switch f.Operator {
	case "HAS_PROPERTY":
		return has, nil
	case "NOT_HAS_PROPERTY":
		return !has, nil
	}
	if !has {
		return f.Operator == "NEQ", nil
	}
	c := cmpValue(f.PropertyName, v, f.Value)
	switch f.Operator {
	case "EQ":
		return c == 0, nil
	case "NEQ":
		return c != 0, nil
	case "GT":
		return c > 0, nil
	case "GTE":
		return c >= 0, nil
	case "LT":
		return c < 0, nil
	case "LTE":
		return c <= 0, nil
	}
	return false, fmt.Errorf("unsupported operator %q", f.Operator)
}

const searchCap = 10000

func (s *Server) search(w http.ResponseWriter, r *http.Request, now time.Time) {
	var req searchReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "Invalid input JSON: "+err.Error()))
		return
	}
	if req.Limit == 0 {
		req.Limit = 10
	}
	if req.Limit < 0 || req.Limit > 200 {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "limit must be between 1 and 200"))
		return
	}
	after := 0
	if req.After != "" {
		after, _ = strconv.Atoi(req.After)
	}
	if after >= searchCap {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", fmt.Sprintf("There was a problem with the request: paging beyond %d results is not supported", searchCap)))
		return
	}
	sortProp, desc := "hs_object_id", false
	if len(req.Sorts) > 0 {
		var so struct{ PropertyName, Direction string }
		var str string
		if json.Unmarshal(req.Sorts[0], &so) == nil && so.PropertyName != "" {
			sortProp, desc = so.PropertyName, so.Direction == "DESCENDING"
		} else if json.Unmarshal(req.Sorts[0], &str) == nil && str != "" {
			sortProp, desc = strings.TrimPrefix(str, "-"), strings.HasPrefix(str, "-")
		}
	}
	type hit struct {
		c    *contact
		snap *snapshot
		all  searchView
	}
	var hits []hit
	for _, id := range s.sortedIDs() {
		c := s.contacts[id]
		snap := s.indexed(c, now)
		if snap == nil {
			continue
		}
		all := searchView{c, snap}
		ok := len(req.FilterGroups) == 0
		for _, g := range req.FilterGroups {
			gok := true
			for _, f := range g.Filters {
				m, err := match(f, all)
				if err != nil {
					writeJSON(w, 400, s.errBody("VALIDATION_ERROR", err.Error()))
					return
				}
				if !m {
					gok = false
					break
				}
			}
			if gok {
				ok = true
				break
			}
		}
		if ok {
			hits = append(hits, hit{c, snap, all})
		}
	}
	type key struct {
		n float64
		s string
	}
	keys := make(map[*contact]key, len(hits))
	for _, h := range hits {
		v, _ := h.all.get(sortProp)
		switch PropertyTypes[sortProp] {
		case "datetime", "date":
			keys[h.c] = key{n: float64(parseTime(v).UnixMilli())}
		case "number":
			f, _ := strconv.ParseFloat(v, 64)
			keys[h.c] = key{n: f}
		default:
			keys[h.c] = key{s: strings.ToLower(v)}
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := keys[hits[i].c], keys[hits[j].c]
		c := strings.Compare(a.s, b.s)
		if a.n < b.n {
			c = -1
		} else if a.n > b.n {
			c = 1
		}
		if c == 0 {
			return hits[i].c.id < hits[j].c.id
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	var results []object
	end := min(after+req.Limit, len(hits), searchCap)
	for i := after; i < end; i++ {
		h := hits[i]
		results = append(results, render(h.c, h.snap.props, h.snap.updatedAt, req.Properties))
	}
	resp := map[string]any{"total": len(hits), "results": orEmpty(results)}
	if after+req.Limit < len(hits) {
		// Like HubSpot, the next token is offered even past the cap.
		resp["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(after + req.Limit)}}
	}
	writeJSON(w, 200, resp)
}

type batchInput struct {
	ID                 string            `json:"id"`
	Properties         map[string]string `json:"properties"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
}

type batchReq struct {
	Properties []string     `json:"properties"`
	IDProperty string       `json:"idProperty"`
	Inputs     []batchInput `json:"inputs"`
}

func (s *Server) readBatch(w http.ResponseWriter, r *http.Request) (batchReq, bool) {
	var req batchReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "Invalid input JSON: "+err.Error()))
		return req, false
	}
	if len(req.Inputs) > 100 {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", fmt.Sprintf("Batch size %d exceeds the limit of 100 inputs", len(req.Inputs))))
		return req, false
	}
	return req, true
}

func (s *Server) batchAnswer(w http.ResponseWriter, okStatus int, results []object, errs []apiError) {
	now := iso(s.o.Now())
	resp := map[string]any{"status": "COMPLETE", "results": orEmpty(results), "startedAt": now, "completedAt": now}
	status := okStatus
	if len(errs) > 0 {
		resp["errors"] = errs
		resp["numErrors"] = len(errs)
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, resp)
}

func (s *Server) batchRead(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	var results []object
	var missing []string
	for _, in := range req.Inputs {
		var c *contact
		if req.IDProperty == "email" {
			c = s.byEmail(in.ID)
		} else {
			c = s.lookup(in.ID)
		}
		if c == nil {
			missing = append(missing, in.ID)
			continue
		}
		results = append(results, render(c, c.props, c.updatedAt, req.Properties))
	}
	var errs []apiError
	if len(missing) > 0 {
		e := s.errBody("OBJECT_NOT_FOUND", "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.")
		e.Context = map[string][]string{"ids": missing}
		errs = append(errs, e)
	}
	s.batchAnswer(w, 200, results, errs)
}

func (s *Server) conflict(existing *contact) apiError {
	return s.errBody("CONFLICT", fmt.Sprintf("Contact already exists. Existing ID: %d", existing.id))
}

func (s *Server) batchCreate(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	multi := s.o.MultiStatusCreate
	for _, in := range req.Inputs {
		if in.ObjectWriteTraceID == "" {
			multi = false
		}
	}
	// Validate all first: without multi-status the batch is all or nothing.
	errs := make([]*apiError, len(req.Inputs))
	codes := make([]int, len(req.Inputs))
	seen := map[string]bool{}
	for i, in := range req.Inputs {
		email := strings.ToLower(strings.TrimSpace(in.Properties["email"]))
		if ex := s.byEmail(email); ex != nil {
			e := s.conflict(ex)
			errs[i], codes[i] = &e, 409
		} else if msg := s.validate(in.Properties); msg != "" {
			e := s.errBody("VALIDATION_ERROR", msg)
			errs[i], codes[i] = &e, 400
		} else if email != "" && seen[email] {
			e := s.errBody("VALIDATION_ERROR", "Duplicate email in batch: "+email)
			errs[i], codes[i] = &e, 400
		}
		seen[email] = true
	}
	if !multi {
		for i := range errs {
			if errs[i] != nil {
				writeJSON(w, codes[i], errs[i])
				return
			}
		}
	}
	var results []object
	var out []apiError
	for i, in := range req.Inputs {
		if errs[i] != nil {
			e := *errs[i]
			e.Context = map[string][]string{"objectWriteTraceId": {in.ObjectWriteTraceID}}
			out = append(out, e)
			continue
		}
		c := s.create(in.Properties)
		results = append(results, render(c, c.props, c.updatedAt, keys(in.Properties)))
	}
	s.batchAnswer(w, http.StatusCreated, results, out)
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *Server) batchUpdate(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	var results []object
	var errs []apiError
	for _, in := range req.Inputs {
		c := s.lookup(in.ID)
		if c == nil {
			e := s.errBody("OBJECT_NOT_FOUND", "Could not find object with id "+in.ID)
			e.Context = map[string][]string{"ids": {in.ID}}
			errs = append(errs, e)
			continue
		}
		if email, ok := in.Properties["email"]; ok {
			if ex := s.byEmail(email); ex != nil && ex != c {
				e := s.conflict(ex)
				e.Context = map[string][]string{"ids": {in.ID}}
				errs = append(errs, e)
				continue
			}
		}
		if msg := s.validate(in.Properties); msg != "" {
			e := s.errBody("VALIDATION_ERROR", msg)
			e.Context = map[string][]string{"ids": {in.ID}}
			e.Errors = []map[string]any{{"message": msg, "code": "INVALID_PROPERTY_VALUE", "context": map[string][]string{"ids": {in.ID}}}}
			errs = append(errs, e)
			continue
		}
		s.update(c, in.Properties)
		results = append(results, render(c, c.props, c.updatedAt, keys(in.Properties)))
	}
	s.batchAnswer(w, 200, results, errs)
}

func (s *Server) batchArchive(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readBatch(w, r)
	if !ok {
		return
	}
	for _, in := range req.Inputs {
		if c := s.lookup(in.ID); c != nil {
			s.archive(c)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createOne(w http.ResponseWriter, r *http.Request) {
	var in batchInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "Invalid input JSON"))
		return
	}
	if ex := s.byEmail(in.Properties["email"]); ex != nil {
		writeJSON(w, 409, s.conflict(ex))
		return
	}
	if msg := s.validate(in.Properties); msg != "" {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", msg))
		return
	}
	c := s.create(in.Properties)
	writeJSON(w, 201, render(c, c.props, c.updatedAt, keys(in.Properties)))
}

func (s *Server) oneID(r *http.Request) string {
	return strings.TrimPrefix(r.URL.Path, "/crm/v3/objects/contacts/")
}

func (s *Server) getOne(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var c *contact
	if q.Get("idProperty") == "email" {
		c = s.byEmail(s.oneID(r))
	} else {
		c = s.lookup(s.oneID(r))
	}
	if c == nil {
		writeJSON(w, 404, s.errBody("OBJECT_NOT_FOUND", "resource not found"))
		return
	}
	writeJSON(w, 200, render(c, c.props, c.updatedAt, splitProps(q.Get("properties"))))
}

func (s *Server) patchOne(w http.ResponseWriter, r *http.Request) {
	c := s.lookup(s.oneID(r))
	if c == nil {
		writeJSON(w, 404, s.errBody("OBJECT_NOT_FOUND", "resource not found"))
		return
	}
	var in batchInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", "Invalid input JSON"))
		return
	}
	if msg := s.validate(in.Properties); msg != "" {
		writeJSON(w, 400, s.errBody("VALIDATION_ERROR", msg))
		return
	}
	s.update(c, in.Properties)
	writeJSON(w, 200, render(c, c.props, c.updatedAt, keys(in.Properties)))
}
