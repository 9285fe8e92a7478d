package carddav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/uuid"

	"tandem/sync/connector"
	"tandem/sync/connector/vcardfields"
	"tandem/sync/connector/vcardtext"
)

// Apply performs writes, Parallel at a time, results in the writes' order.
// Updates first read the current cards (addressbook-multiget, BatchSize at
// a time). When the server refuses the credentials or goes away, Apply
// starts no further write and returns that error with the results (the
// writes not attempted carry the same error).
func (c *conn) Apply(ctx context.Context, writes []connector.Write) ([]connector.Result, error) {
	book, err := c.addressBook(ctx)
	if err != nil {
		return nil, err
	}
	var upd []string
	for _, w := range writes {
		if w.Op == connector.OpUpdate && validID(w.ID) {
			upd = append(upd, w.ID)
		}
	}
	current := make(map[string]*fetched, len(upd))
	for start := 0; start < len(upd); start += BatchSize {
		m, err := c.multiget(ctx, book, upd[start:min(start+BatchSize, len(upd))])
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			current[k] = v
		}
	}
	return c.applyAll(ctx, book, writes, current)
}

// Parallel is the number of writes Apply keeps in flight at once.
const Parallel = 8

// applyAll runs the writes, up to Parallel at a time (one at a time when
// two of them name the same card, to keep their order), with each result
// at its write's index. Once a write fails on credentials, reachability or
// the context, no further write starts: those not started carry that error
// (the first such by index), the ones in flight keep their own results.
func (c *conn) applyAll(ctx context.Context, book *url.URL, writes []connector.Write, current map[string]*fetched) ([]connector.Result, error) {
	results := make([]connector.Result, len(writes))
	one := func(w connector.Write) (connector.Record, error) {
		switch w.Op {
		case connector.OpCreate:
			return c.create(ctx, book, w)
		case connector.OpUpdate:
			return c.update(ctx, book, w, current[w.ID])
		case connector.OpDelete:
			return c.remove(ctx, book, w)
		}
		return connector.Record{}, fmt.Errorf("unknown write operation %d", w.Op)
	}
	fatal := func(err error) bool {
		return err != nil && (errors.Is(err, connector.ErrAuth) || errors.Is(err, connector.ErrUnreachable) || ctx.Err() != nil)
	}
	workers := Parallel
	if !distinctIDs(writes) {
		workers = 1
	}
	workers = min(workers, len(writes))

	var (
		mu      sync.Mutex
		next    int
		stopped bool
		stopAt  = len(writes) // index of the first fatal failure
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if stopped || next >= len(writes) {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()

				rec, err := one(writes[i])
				results[i] = connector.Result{Record: rec, Err: err}
				if fatal(err) {
					mu.Lock()
					stopped = true
					stopAt = min(stopAt, i)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if stopAt == len(writes) {
		return results, nil
	}
	err := results[stopAt].Err
	for j := next; j < len(writes); j++ { // never started
		results[j] = connector.Result{Record: connector.Record{ID: writes[j].ID}, Err: err}
	}
	return results, err
}

// distinctIDs reports whether no two writes name the same existing card
// (creates name none).
func distinctIDs(writes []connector.Write) bool {
	seen := make(map[string]bool, len(writes))
	for _, w := range writes {
		if w.Op == connector.OpCreate {
			continue
		}
		if seen[w.ID] {
			return false
		}
		seen[w.ID] = true
	}
	return true
}

func (c *conn) create(ctx context.Context, book *url.URL, w connector.Write) (connector.Record, error) {
	uid := uuid.NewString()
	id := uid + ".vcf"
	card := vcardtext.New(uid, w.Fields)
	etag, err := c.put(ctx, book, id, card.Bytes(), map[string]string{"If-None-Match": "*"})
	if err != nil {
		return connector.Record{}, err
	}
	c.noteOwn(id, etag)
	return connector.Record{ID: id, Version: etag}, nil
}

func (c *conn) update(ctx context.Context, book *url.URL, w connector.Write, cur *fetched) (connector.Record, error) {
	rec := connector.Record{ID: w.ID}
	if cur == nil {
		return rec, fmt.Errorf("%w: card %s is no longer on the CardDAV server", connector.ErrNotFound, w.ID)
	}
	if cur.err != nil {
		return rec, cur.err
	}
	if w.Version != "" && cur.etag != "" && cur.etag != w.Version {
		return rec, c.mismatch(w.ID)
	}
	if !cur.card.Apply(w.Fields) {
		rec.Version = cur.etag
		return rec, nil
	}
	match := cur.etag
	if match == "" {
		match = w.Version
	}
	hdr := map[string]string{}
	if match != "" {
		hdr["If-Match"] = match
	}
	etag, err := c.put(ctx, book, w.ID, cur.card.Bytes(), hdr)
	if err != nil {
		return rec, err
	}
	c.noteOwn(w.ID, etag)
	rec.Version = etag
	return rec, nil
}

func (c *conn) remove(ctx context.Context, book *url.URL, w connector.Write) (connector.Record, error) {
	rec := connector.Record{ID: w.ID}
	if !validID(w.ID) {
		return rec, nil // never was a card of this address book
	}
	hdr := map[string]string{}
	if w.Version != "" {
		hdr["If-Match"] = w.Version
	}
	r := request{method: http.MethodDelete, url: hrefOf(book, w.ID).String(), header: hdr}
	resp, err := c.send(ctx, r)
	if err != nil {
		return rec, err
	}
	switch {
	case resp.code/100 == 2, resp.code == http.StatusNotFound, resp.code == http.StatusGone:
		c.noteOwn(w.ID, "")
		return rec, nil // gone either way
	case resp.code == http.StatusPreconditionFailed:
		return rec, c.mismatch(w.ID)
	}
	return rec, c.writeError(w.ID, resp.statusError(r))
}

func (c *conn) mismatch(id string) error {
	return fmt.Errorf("%w: card %s was changed on the CardDAV server meanwhile", connector.ErrVersionMismatch, id)
}

// writeError keeps auth and unavailability typed; other refusals are
// per-record errors.
func (c *conn) writeError(id string, se *statusError) error {
	err := c.classify(se)
	if err != error(se) {
		return err
	}
	return fmt.Errorf("CardDAV server refused to write card %s: %d %s", id, se.Code, http.StatusText(se.Code))
}

// put stores a card's text and returns its new etag (asked for when the
// answer has none).
func (c *conn) put(ctx context.Context, book *url.URL, id string, card []byte, hdr map[string]string) (string, error) {
	href := hrefOf(book, id)
	r := request{method: http.MethodPut, url: href.String(), body: card, header: hdr}
	resp, err := c.send(ctx, r)
	if err != nil {
		return "", err
	}
	switch {
	case resp.code/100 == 2:
	case resp.code == http.StatusPreconditionFailed:
		if hdr["If-None-Match"] == "*" {
			return "", &connector.AlreadyExistsError{ExistingID: id}
		}
		return "", c.mismatch(id)
	case resp.code == http.StatusNotFound && hdr["If-Match"] != "":
		return "", fmt.Errorf("%w: card %s is no longer on the CardDAV server", connector.ErrNotFound, id)
	default:
		return "", c.writeError(id, resp.statusError(r))
	}
	if etag := resp.header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return normEtag(etag), nil
	}
	// No (strong) ETag in the answer: ask for it.
	body := xmlHead + `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`
	pr, err := c.expect(ctx, request{method: "PROPFIND", url: href.String(), body: []byte(body),
		header: map[string]string{"Depth": "0"}}, http.StatusMultiStatus)
	if err != nil {
		return "", err
	}
	entries, _, err := parseMultistatus(pr.body, pr.url)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.etag != "" {
			return e.etag, nil
		}
	}
	return "", fmt.Errorf("CardDAV server for %q gave no etag for card %s", c.name, id)
}

// FindByField finds cards whose field has value (case-insensitive, trimmed),
// with an addressbook-query REPORT filtered on the property, then checked
// here on the exact field.
func (c *conn) FindByField(ctx context.Context, field, value string) ([]connector.Record, error) {
	book, err := c.addressBook(ctx)
	if err != nil {
		return nil, err
	}
	value = strings.TrimSpace(value)
	if !vcardfields.Known(field) || value == "" {
		return nil, nil
	}
	prop, _, _ := strings.Cut(field, ".")
	prop = strings.ToUpper(prop)
	body := xmlHead + `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">` +
		`<D:prop><D:getetag/><D:getlastmodified/><C:address-data/></D:prop>` +
		`<C:filter><C:prop-filter name="` + xmlText(prop) + `">` +
		`<C:text-match collation="i;unicode-casemap" match-type="contains">` + xmlText(value) + `</C:text-match>` +
		`</C:prop-filter></C:filter></C:addressbook-query>`
	entries, err := c.multistatus(ctx, "REPORT", book, "1", body)
	if err != nil {
		return nil, err
	}
	var out []connector.Record
	for _, e := range entries {
		id := idOf(book, e.path)
		if id == "" || e.code/100 != 2 || e.data == nil {
			continue
		}
		card, err := vcardtext.Parse([]byte(*e.data))
		if err != nil {
			continue
		}
		match := false
		for _, v := range card.Values(field) { // any value of the property, not only the preferred
			if strings.EqualFold(strings.TrimSpace(v), value) {
				match = true
			}
		}
		if match {
			out = append(out, c.record(&fetched{id: id, etag: e.etag, mod: e, card: card}))
		}
	}
	return out, nil
}
