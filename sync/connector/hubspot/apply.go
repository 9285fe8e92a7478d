package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"tandem/sync/connector"
)

// Apply implements connector.Connector: creates, updates and archives go
// in batches of 100 (grouped by operation); results keep the order of
// writes.
//
// Creates. Each input carries an objectWriteTraceId (its position), which
// makes HubSpot answer 207 with per-input errors. Where it still fails a
// batch whole (the documented 409 "Contact already exists. Existing ID: N"
// names only the first duplicate, and a 400 names no input), the batch is
// retried one contact at a time, so each duplicate gets its own
// *connector.AlreadyExistsError and the others are created.
//
// Updates. A 207 maps errors back through context.ids; a batch refused
// whole is retried one contact at a time (PATCH).
func (h *Connector) Apply(ctx context.Context, writes []connector.Write) ([]connector.Result, error) {
	types, err := h.propTypes(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]connector.Result, len(writes))
	var creates, updates, deletes []int
	for i, w := range writes {
		switch w.Op {
		case connector.OpCreate:
			creates = append(creates, i)
		case connector.OpUpdate:
			updates = append(updates, i)
		case connector.OpDelete:
			deletes = append(deletes, i)
		default:
			results[i].Err = fmt.Errorf("unknown write operation %d", w.Op)
		}
	}
	chunks := func(idx []int, f func([]int) error) error {
		for s := 0; s < len(idx); s += batchSize {
			if err := f(idx[s:min(s+batchSize, len(idx))]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := chunks(creates, func(c []int) error { return h.createBatch(ctx, writes, results, c, types) }); err != nil {
		return nil, err
	}
	if err := chunks(updates, func(c []int) error { return h.updateBatch(ctx, writes, results, c, types) }); err != nil {
		return nil, err
	}
	if err := chunks(deletes, func(c []int) error { return h.archiveBatch(ctx, writes, results, c) }); err != nil {
		return nil, err
	}
	return results, nil
}

func outProps(fields map[string]string, types map[string]string) map[string]string {
	p := make(map[string]string, len(fields))
	for k, v := range fields {
		p[k] = writeValue(types[k], v)
	}
	return p
}

type writeInput struct {
	ID                 string            `json:"id,omitempty"`
	Properties         map[string]string `json:"properties,omitempty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
}

func (h *Connector) createBatch(ctx context.Context, writes []connector.Write, results []connector.Result, idx []int, types map[string]string) error {
	const path = "/crm/v3/objects/contacts/batch/create"
	inputs := make([]writeInput, len(idx))
	for j, i := range idx {
		inputs[j] = writeInput{Properties: outProps(writes[i].Fields, types), ObjectWriteTraceID: strconv.Itoa(j)}
	}
	var resp batchResp
	// Not retryable on 5xx or a lost answer: the contacts may exist.
	status, raw, err := h.call(ctx, http.MethodPost, path, nil, map[string]any{"inputs": inputs}, false, &resp)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK || status == http.StatusCreated || status == http.StatusMultiStatus:
		failed := map[int]bool{}
		for _, e := range resp.Errors {
			for _, tid := range e.Context["objectWriteTraceId"] {
				if j, err := strconv.Atoi(tid); err == nil && j >= 0 && j < len(idx) && !failed[j] {
					failed[j] = true
					results[idx[j]].Err = toRecordError(e)
				}
			}
		}
		var pending []int // inputs that should have a result
		for j := range idx {
			if !failed[j] {
				pending = append(pending, j)
			}
		}
		h.matchCreated(resp.Results, pending, inputs, idx, results, types)
		// An error without a trace id, or a missing result.
		for _, j := range pending {
			if results[idx[j]].Record.ID == "" && results[idx[j]].Err == nil {
				msg := "HubSpot created no contact for this record"
				if len(resp.Errors) > 0 {
					msg = resp.Errors[0].text()
				}
				results[idx[j]].Err = fmt.Errorf("%s", msg)
			}
		}
		return nil
	case status == http.StatusConflict || status == http.StatusBadRequest:
		if len(idx) == 1 {
			results[idx[0]].Err = toRecordError(parseErr(status, raw))
			return nil
		}
		// The whole batch was refused for one input: one at a time.
		for j, i := range idx {
			if err := h.createOne(ctx, inputs[j].Properties, &results[i], types); err != nil {
				return err
			}
		}
		return nil
	default:
		e := parseErr(status, raw)
		for _, i := range idx {
			results[i].Err = fmt.Errorf("%s (the contact may or may not have been created)", e.text())
		}
		return nil
	}
}

// matchCreated pairs created objects with their inputs: by email where the
// emails tell them apart, else in order.
func (h *Connector) matchCreated(objs []object, pending []int, inputs []writeInput, idx []int, results []connector.Result, types map[string]string) {
	byEmail := map[string]int{}
	unique := true
	for _, j := range pending {
		e := strings.ToLower(strings.TrimSpace(inputs[j].Properties["email"]))
		if e == "" {
			unique = false
			break
		}
		if _, dup := byEmail[e]; dup {
			unique = false
			break
		}
		byEmail[e] = j
	}
	used := map[int]bool{}           // inputs matched
	taken := make([]bool, len(objs)) // objects matched
	if unique {
		for k, o := range objs {
			if j, ok := byEmail[strings.ToLower(strings.TrimSpace(o.prop("email")))]; ok && !used[j] {
				used[j], taken[k] = true, true
				results[idx[j]].Record = h.record(o, types)
			}
		}
	}
	k := 0
	for _, j := range pending {
		if used[j] {
			continue
		}
		for k < len(objs) && taken[k] {
			k++
		}
		if k >= len(objs) {
			return
		}
		results[idx[j]].Record = h.record(objs[k], types)
		taken[k] = true
		k++
	}
}

func (h *Connector) createOne(ctx context.Context, props map[string]string, res *connector.Result, types map[string]string) error {
	const path = "/crm/v3/objects/contacts"
	var o object
	status, raw, err := h.call(ctx, http.MethodPost, path, nil, map[string]any{"properties": props}, false, &o)
	if err != nil {
		return err
	}
	if status == http.StatusCreated || status == http.StatusOK {
		res.Record = h.record(o, types)
		return nil
	}
	res.Err = toRecordError(parseErr(status, raw))
	return nil
}

func (h *Connector) updateBatch(ctx context.Context, writes []connector.Write, results []connector.Result, idx []int, types map[string]string) error {
	const path = "/crm/v3/objects/contacts/batch/update"
	inputs := make([]writeInput, len(idx))
	byID := map[string][]int{}
	for j, i := range idx {
		inputs[j] = writeInput{ID: writes[i].ID, Properties: outProps(writes[i].Fields, types)}
		byID[writes[i].ID] = append(byID[writes[i].ID], i)
	}
	var resp batchResp
	// Setting the same values twice is harmless: retryable.
	status, raw, err := h.call(ctx, http.MethodPost, path, nil, map[string]any{"inputs": inputs}, true, &resp)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK || status == http.StatusMultiStatus:
		for _, e := range resp.Errors {
			for _, id := range e.Context["ids"] {
				for _, i := range byID[id] {
					results[i].Err = toRecordError(e)
				}
			}
		}
		for _, o := range resp.Results {
			for _, i := range byID[o.ID] {
				if results[i].Err == nil {
					results[i].Record = h.record(o, types)
				}
			}
		}
		for _, i := range idx {
			if results[i].Err == nil && results[i].Record.ID == "" {
				msg := "HubSpot returned no result for this contact"
				if len(resp.Errors) > 0 {
					msg = resp.Errors[0].text()
				}
				results[i].Err = fmt.Errorf("%s", msg)
			}
		}
		return nil
	case status == http.StatusBadRequest || status == http.StatusConflict || status == http.StatusNotFound:
		if len(idx) == 1 {
			results[idx[0]].Err = toRecordError(parseErr(status, raw))
			return nil
		}
		for j, i := range idx {
			if err := h.updateOne(ctx, inputs[j], &results[i], types); err != nil {
				return err
			}
		}
		return nil
	default:
		e := parseErr(status, raw)
		for _, i := range idx {
			results[i].Err = fmt.Errorf("%s", e.text())
		}
		return nil
	}
}

func (h *Connector) updateOne(ctx context.Context, in writeInput, res *connector.Result, types map[string]string) error {
	path := "/crm/v3/objects/contacts/" + url.PathEscape(in.ID)
	var o object
	status, raw, err := h.call(ctx, http.MethodPatch, path, nil, map[string]any{"properties": in.Properties}, true, &o)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		res.Record = h.record(o, types)
		return nil
	}
	res.Err = toRecordError(parseErr(status, raw))
	return nil
}

func (h *Connector) archiveBatch(ctx context.Context, writes []connector.Write, results []connector.Result, idx []int) error {
	const path = "/crm/v3/objects/contacts/batch/archive"
	inputs := make([]writeInput, len(idx))
	for j, i := range idx {
		inputs[j] = writeInput{ID: writes[i].ID}
	}
	status, raw, err := h.call(ctx, http.MethodPost, path, nil, map[string]any{"inputs": inputs}, true, nil)
	if err != nil {
		return err
	}
	if status == http.StatusNoContent || status == http.StatusOK {
		for _, i := range idx {
			results[i].Record = connector.Record{ID: writes[i].ID}
		}
		return nil
	}
	e := parseErr(status, raw)
	for _, i := range idx {
		results[i].Err = toRecordError(e)
	}
	return nil
}
