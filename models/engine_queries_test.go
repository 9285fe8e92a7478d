package models

import (
	"gorm.io/gorm"
	"strings"
	"testing"
)

func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.DB.Raw("EXPLAIN QUERY PLAN "+q, args...).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

func TestEngineQueriesUseNarrowIndexes(t *testing.T) {
	s, p := openTest(t)
	ms := []*Mapping{
		{PairID: p.ID, AID: "a1", BID: "b1", State: StateOK},
		{PairID: p.ID, AID: "a2", State: StatePending, PendingSide: SideB},
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ q, want string }{
		{"SELECT * FROM mappings WHERE pair_id = 1 AND a_id <> '' AND a_id IN ('a1','a2')", "idx_mappings_pair_a"},
		{"SELECT * FROM mappings WHERE pair_id = 1 AND b_id <> '' AND b_id IN ('b1')", "idx_mappings_pair_b"},
		{"SELECT * FROM mappings WHERE state = 'pending' AND state <> 'ok' AND +pair_id = 1 ORDER BY id", "idx_mappings_rare_state"},
	} {
		if plan := queryPlan(t, s, c.q); !strings.Contains(plan, c.want) {
			t.Errorf("%s: plan %q, want index %s", c.q, plan, c.want)
		}
	}
	got, err := s.SideMappings(p.ID, SideA, []string{"a1", "a2", "zz"})
	if err != nil || len(got) != 2 || got["a2"].State != StatePending {
		t.Fatalf("%v %v", got, err)
	}
	got, err = s.SideMappings(p.ID, SideB, []string{"b1"})
	if err != nil || len(got) != 1 || got["b1"].AID != "a1" {
		t.Fatalf("%v %v", got, err)
	}
	pend, err := s.PendingMappings(p.ID, StatePending)
	if err != nil || len(pend) != 1 || pend[0].AID != "a2" {
		t.Fatalf("%v %v", pend, err)
	}
	if n, err := s.CountSide(p.ID, SideB); err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
}

// Fresh: nothing stored of the pair, neither rows nor the intent of a
// killed run (which the next run turns into rows).
func TestFresh(t *testing.T) {
	s, p := openTest(t)
	fresh := func() bool {
		t.Helper()
		ok, err := s.Fresh(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !fresh() {
		t.Fatal("a new pair is not fresh")
	}
	if err := s.Write(func(tx *gorm.DB) error {
		return AddIntent(tx, 1, 1, p.ID, SideB, []IntentEntry{{SourceID: "a.vcf", Key: "a"}})
	}); err != nil {
		t.Fatal(err)
	}
	if fresh() {
		t.Fatal("fresh with an intent left")
	}
	if _, err := s.MaterializeIntents(p.ID); err != nil {
		t.Fatal(err)
	}
	if fresh() {
		t.Fatal("fresh with a pending row")
	}
}
