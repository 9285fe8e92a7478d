package carddav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tandem/sync/connector"
)

// doer sends one HTTP request. A plain *http.Client today; the shared
// retrying client (sync/connector/httpx) fits the same interface.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// maxBody bounds what is read from one response (a full etag listing of a
// very large address book stays far below it).
const maxBody = 256 << 20

func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 60 * time.Second
	tr.MaxIdleConnsPerHost = Parallel
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// statusError is an HTTP answer outside 2xx.
type statusError struct {
	Method string
	Path   string
	Code   int
	Body   string // first bytes, for DAV:error preconditions
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: server answered %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
}

func statusCode(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// authed sets the credentials on a request.
func (c *conn) authed(req *http.Request) {
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("User-Agent", "Tandem")
}

// transportError turns a failure to talk to the server into an error
// wrapping ErrUnreachable (or the context's error when it was cancelled).
func (c *conn) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	msg := err.Error()
	if errors.As(err, &ue) {
		msg = ue.Err.Error() // without the URL, which never carries secrets but is noisy
	}
	return fmt.Errorf("%w: cannot reach the CardDAV server at %s for %q: %s", connector.ErrUnreachable, c.base.Host, c.name, msg)
}

// classify turns statuses that stop the whole run into typed errors.
func (c *conn) classify(err *statusError) error {
	switch err.Code {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: CardDAV server refused the username or password for %q", connector.ErrAuth, c.name)
	case http.StatusForbidden:
		return fmt.Errorf("%w: CardDAV server denied %q access to %s (check the account's rights)", connector.ErrAuth, c.name, err.Path)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("%w: CardDAV server for %q is unavailable (%d %s)", connector.ErrUnreachable, c.name, err.Code, http.StatusText(err.Code))
	}
	return err
}

type request struct {
	method string
	url    string
	body   []byte
	header map[string]string
}

type response struct {
	code   int
	header http.Header
	body   []byte
	url    *url.URL // final URL after redirects
}

// send performs one request with credentials and reads the whole answer.
// Transport failures come back wrapping ErrUnreachable; every status is
// returned as is, for the caller to judge.
func (c *conn) send(ctx context.Context, r request) (*response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, err
	}
	c.authed(req)
	if r.body != nil {
		if bytes.HasPrefix(r.body, []byte("<?xml")) {
			req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
		} else {
			req.Header.Set("Content-Type", "text/vcard; charset=utf-8")
		}
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	out := &response{code: resp.StatusCode, header: resp.Header, body: data, url: req.URL}
	if resp.Request != nil && resp.Request.URL != nil {
		out.url = resp.Request.URL
	}
	return out, nil
}

// expect sends and turns any status outside want into an error (auth and
// unavailability typed, the rest a *statusError).
// multistatus sends a PROPFIND or REPORT and parses its 207 answer.
func (c *conn) multistatus(ctx context.Context, method string, u *url.URL, depth, body string) ([]entry, error) {
	resp, err := c.expect(ctx, request{method: method, url: u.String(), body: []byte(body),
		header: map[string]string{"Depth": depth}}, http.StatusMultiStatus)
	if err != nil {
		return nil, err
	}
	entries, _, err := parseMultistatus(resp.body, resp.url)
	if err != nil {
		return nil, fmt.Errorf("CardDAV server for %q: %v", c.name, err)
	}
	return entries, nil
}

func (c *conn) expect(ctx context.Context, r request, want ...int) (*response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.code == w {
			return resp, nil
		}
	}
	return resp, c.classify(resp.statusError(r))
}

func (r *response) statusError(req request) *statusError {
	path := req.url
	if u, err := url.Parse(req.url); err == nil {
		path = u.Path
	}
	b := r.body
	if len(b) > 2048 {
		b = b[:2048]
	}
	return &statusError{Method: req.method, Path: path, Code: r.code, Body: string(b)}
}

// authDoer is the doer given to go-webdav (discovery): it adds the
// credentials and reports transport failures and auth refusals as typed
// errors, which the library passes through unchanged.
type authDoer struct {
	c *conn
}

func (d authDoer) Do(req *http.Request) (*http.Response, error) {
	d.c.authed(req)
	resp, err := d.c.http.Do(req)
	if err != nil {
		return nil, d.c.transportError(req.Context(), err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		resp.Body.Close()
		return nil, d.c.classify(&statusError{Method: req.Method, Path: req.URL.Path, Code: resp.StatusCode})
	}
	return resp, nil
}

// --- multistatus ---

type multistatus struct {
	XMLName   xml.Name     `xml:"DAV: multistatus"`
	Responses []msResponse `xml:"DAV: response"`
	SyncToken string       `xml:"DAV: sync-token"`
}

type msResponse struct {
	Hrefs     []string     `xml:"DAV: href"`
	Status    string       `xml:"DAV: status"`
	PropStats []msPropStat `xml:"DAV: propstat"`
}

type msPropStat struct {
	Status string `xml:"DAV: status"`
	Prop   msProp `xml:"DAV: prop"`
}

type msProp struct {
	ETag         *string `xml:"DAV: getetag"`
	LastModified string  `xml:"DAV: getlastmodified"`
	AddressData  *string `xml:"urn:ietf:params:xml:ns:carddav address-data"`
	CTag         *string `xml:"http://calendarserver.org/ns/ getctag"`
	ResourceType *struct {
		Collection  *struct{} `xml:"DAV: collection"`
		AddressBook *struct{} `xml:"urn:ietf:params:xml:ns:carddav addressbook"`
	} `xml:"DAV: resourcetype"`
	SupportedReports *struct {
		Reports []struct {
			Report struct {
				Inner []struct {
					XMLName xml.Name
				} `xml:",any"`
			} `xml:"DAV: report"`
		} `xml:"DAV: supported-report"`
	} `xml:"DAV: supported-report-set"`
}

// entry is one decoded response of a multistatus.
type entry struct {
	path         string // unescaped absolute path
	code         int    // the response's status (200 when given per propstat)
	etag         string
	modified     time.Time
	data         *string
	ctag         string // the collection's getctag (CalendarServer extension)
	collection   bool
	addressBook  bool
	reports      map[string]bool // local names of supported reports
	hasEtagProp  bool
	hasDataProp  bool
	hasResources bool
}

func parseStatus(s string) int {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// normEtag keeps an etag in its quoted form, the form If-Match needs.
func normEtag(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "W/") {
		return s
	}
	return strconv.Quote(s)
}

// parseMultistatus decodes a 207 body; hrefs are resolved against base.
func parseMultistatus(body []byte, base *url.URL) ([]entry, string, error) {
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		return nil, "", fmt.Errorf("unreadable multistatus answer: %v", err)
	}
	out := make([]entry, 0, len(ms.Responses))
	for _, r := range ms.Responses {
		if len(r.Hrefs) == 0 {
			continue
		}
		code := parseStatus(r.Status)
		for _, h := range r.Hrefs {
			u, err := base.Parse(strings.TrimSpace(h))
			if err != nil {
				continue
			}
			e := entry{path: u.Path, code: code}
			if e.code == 0 {
				e.code = http.StatusOK
			}
			for _, ps := range r.PropStats {
				if c := parseStatus(ps.Status); c != 0 && c/100 != 2 {
					continue
				}
				p := ps.Prop
				if p.ETag != nil && strings.TrimSpace(*p.ETag) != "" {
					e.etag = normEtag(*p.ETag)
					e.hasEtagProp = true
				}
				if p.LastModified != "" {
					if t, err := http.ParseTime(strings.TrimSpace(p.LastModified)); err == nil {
						e.modified = t
					}
				}
				if p.CTag != nil {
					e.ctag = strings.TrimSpace(*p.CTag)
				}
				if p.AddressData != nil {
					e.data = p.AddressData
					e.hasDataProp = true
				}
				if p.ResourceType != nil {
					e.hasResources = true
					e.collection = p.ResourceType.Collection != nil
					e.addressBook = p.ResourceType.AddressBook != nil
				}
				if p.SupportedReports != nil {
					e.reports = map[string]bool{}
					for _, sr := range p.SupportedReports.Reports {
						for _, in := range sr.Report.Inner {
							e.reports[in.XMLName.Local] = true
						}
					}
				}
			}
			out = append(out, e)
		}
	}
	return out, strings.TrimSpace(ms.SyncToken), nil
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

const xmlHead = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
