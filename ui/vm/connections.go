package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/runner"
	"tandem/sync/secrets"
	"tandem/sync/transform"
)

// ConnForm is the editable state of one side's connection. Secret is what
// the person typed in this session; the stored secret is never read back
// into the form.
type ConnForm struct {
	Side     string // "a" or "b"
	Kind     string
	Name     string
	Settings map[string]string
	Secret   string
	oldName  string
}

// Tester checks a connection (runner.Runner.TestConnection).
type Tester func(ctx context.Context, c models.Connection, secret string) error

// Connections edits the two connections of a pair.
type Connections struct {
	store   *models.Store
	secrets secrets.Store
	test    Tester
}

// NewConnections returns the connections view-model.
func NewConnections(store *models.Store, sec secrets.Store, test Tester) *Connections {
	return &Connections{store: store, secrets: sec, test: test}
}

// Kinds lists the connection kinds the engine knows.
func (c *Connections) Kinds() []connector.Kind { return connector.Kinds() }

// Form returns the form state of one side of a pair.
func (c *Connections) Form(p *models.Pair, side string) ConnForm {
	conn := p.A
	if side == models.SideB {
		conn = p.B
	}
	f := ConnForm{Side: side, Kind: conn.Kind, Name: conn.Name, oldName: conn.Name, Settings: map[string]string{}}
	for k, v := range conn.Settings {
		f.Settings[k] = v
	}
	return f
}

// SecretState says, without showing it, whether a secret is stored for the
// connection. It may wait up to the keyring's timeout: call it off the UI
// goroutine.
func (c *Connections) SecretState(f ConnForm) string {
	k, ok := connector.Lookup(f.Kind)
	if !ok || !k.NeedsSecret {
		return ""
	}
	if c.secrets == nil {
		return "No OS keyring is available: secrets cannot be stored."
	}
	_, err := c.secrets.Get(f.Name)
	switch {
	case err == nil:
		return k.SecretLabel + " is stored in the OS keyring."
	case errors.Is(err, secrets.ErrNotFound):
		return "No " + strings.ToLower(k.SecretLabel) + " stored yet: type it and Save."
	default:
		return "The OS keyring did not answer: " + err.Error()
	}
}

// connection checks the form and returns the connection it describes.
func (c *Connections) connection(f ConnForm) (models.Connection, connector.Kind, error) {
	k, ok := connector.Lookup(f.Kind)
	if !ok {
		return models.Connection{}, k, fmt.Errorf("pick the kind of system (%q is not one Tandem knows)", f.Kind)
	}
	name := strings.TrimSpace(f.Name)
	if name == "" {
		return models.Connection{}, k, errors.New("give the connection a name")
	}
	settings := map[string]string{}
	for _, s := range k.Settings {
		v := strings.TrimSpace(f.Settings[s.Key])
		if v == "" && s.Required {
			return models.Connection{}, k, fmt.Errorf("%s is required", s.Label)
		}
		if v != "" {
			settings[s.Key] = v
		}
	}
	return models.Connection{Name: name, Kind: k.Name, Settings: settings}, k, nil
}

// Save stores the side's connection in the pair and its secret (when one
// was typed) in the keyring. The secret is written first: if the keyring
// refuses, nothing is saved and the error says why.
func (c *Connections) Save(p *models.Pair, f ConnForm) error {
	conn, k, err := c.connection(f)
	if err != nil {
		return err
	}
	other := p.B
	if f.Side == models.SideB {
		other = p.A
	}
	if other.Name == conn.Name {
		return fmt.Errorf("side %s already uses the name %q: give each side its own name", strings.ToUpper(otherSide(f.Side)), conn.Name)
	}
	if k.NeedsSecret {
		if c.secrets == nil {
			return errors.New("no OS keyring is available, so the " + strings.ToLower(k.SecretLabel) + " cannot be stored (Tandem never stores it elsewhere)")
		}
		switch {
		case f.Secret != "":
			if err := c.secrets.Set(conn.Name, f.Secret); err != nil {
				return fmt.Errorf("not saved: %w", err)
			}
		case f.oldName != "" && f.oldName != conn.Name:
			// Renamed: move the stored secret to the new name.
			if s, err := c.secrets.Get(f.oldName); err == nil {
				if err := c.secrets.Set(conn.Name, s); err != nil {
					return fmt.Errorf("not saved: %w", err)
				}
			}
		}
	}
	np := *p
	if f.Side == models.SideB {
		np.B = conn
	} else {
		np.A = conn
	}
	if err := c.store.SavePair(&np); err != nil {
		return err
	}
	*p = np
	return nil
}

// Test checks reachability and credentials with the typed secret, or the
// stored one when none was typed. It gives up after timeout.
func (c *Connections) Test(ctx context.Context, f ConnForm, timeout time.Duration) error {
	conn, _, err := c.connection(f)
	if err != nil {
		return err
	}
	if c.test == nil {
		return errors.New("testing connections is not available")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.test(ctx, conn, f.Secret) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s: the system is unreachable or too slow", timeout)
	}
}

func otherSide(s string) string {
	if s == models.SideB {
		return models.SideA
	}
	return models.SideB
}

// ConflictField is one field of a conflict, canonical values side by side.
type ConflictField struct {
	Name    string
	A, B    string
	Differs bool
}

// LoadConflict reads both records of a mapping and converts their mapped
// fields to canonical values for the side-by-side view.
func LoadConflict(ctx context.Context, r *runner.Runner, p *models.Pair, m models.Mapping) ([]ConflictField, error) {
	a, b, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	defer b.Close()
	read := func(c connector.Connector, id, side string) (map[string]string, error) {
		out := map[string]string{}
		if id == "" {
			return out, nil
		}
		recs, err := c.Get(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("record %s is gone from side %s", id, strings.ToUpper(side))
		}
		if recs[0].Err != nil {
			return nil, recs[0].Err
		}
		for _, f := range p.Fields {
			native := f.A
			if side == models.SideB {
				native = f.B
			}
			v := recs[0].Fields[native]
			if conv, err := transform.For(f, side); err == nil {
				if cv, err := conv.ToCanonical(v); err == nil {
					v = cv
				}
			}
			out[f.Name] = v
		}
		return out, nil
	}
	av, err := read(a, m.AID, models.SideA)
	if err != nil {
		return nil, err
	}
	bv, err := read(b, m.BID, models.SideB)
	if err != nil {
		return nil, err
	}
	out := make([]ConflictField, 0, len(p.Fields))
	for _, f := range p.Fields {
		out = append(out, ConflictField{Name: f.Name, A: av[f.Name], B: bv[f.Name], Differs: av[f.Name] != bv[f.Name]})
	}
	return out, nil
}
