package models

import (
	"testing"

	"gorm.io/gorm"
)

// A killed run's intent becomes pending rows for the records whose outcome
// was not recorded; those that were keep their rows and get no second one.
func TestMaterializeIntents(t *testing.T) {
	s, p := openTest(t)
	odd := "caf\xe9.vcf" // not UTF-8: a file name may be anything
	recorded := &Mapping{PairID: p.ID, AID: "done.vcf", BID: "x.vcf", State: StateOK, Key: "d@x.org"}
	err := s.Write(func(tx *gorm.DB) error {
		if err := AddIntent(tx, 7, 1, p.ID, SideB, []IntentEntry{{"done.vcf", "d@x.org"}, {odd, "o@x.org"}, {"new.vcf", ""}}); err != nil {
			return err
		}
		if err := AddIntent(tx, 7, 2, p.ID, SideA, []IntentEntry{{"b1.vcf", "b@x.org"}}); err != nil {
			return err
		}
		return SaveMappings(tx, []*Mapping{recorded})
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.MaterializeIntents(p.ID)
	if err != nil || n != 3 {
		t.Fatalf("added %d, %v; want 3", n, err)
	}
	byA, err := s.SideMappings(p.ID, SideA, []string{"done.vcf", odd, "new.vcf"})
	if err != nil {
		t.Fatal(err)
	}
	if m := byA["done.vcf"]; m == nil || m.ID != recorded.ID || m.State != StateOK {
		t.Fatalf("recorded row changed: %+v", m)
	}
	for id, key := range map[string]string{odd: "o@x.org", "new.vcf": ""} {
		if m := byA[id]; m == nil || m.State != StatePending || m.PendingSide != SideB || m.Key != key || m.BID != "" {
			t.Fatalf("%q: %+v", id, m)
		}
	}
	byB, err := s.SideMappings(p.ID, SideB, []string{"b1.vcf"})
	if m := byB["b1.vcf"]; err != nil || m == nil || m.State != StatePending || m.PendingSide != SideA || m.Key != "b@x.org" {
		t.Fatalf("%+v %v", m, err)
	}
	var left int64
	if err := s.DB.Model(&Intent{}).Count(&left).Error; err != nil || left != 0 {
		t.Fatalf("%d intents left, %v", left, err)
	}
	if n, err := s.MaterializeIntents(p.ID); err != nil || n != 0 {
		t.Fatalf("second pass added %d, %v", n, err)
	}
}

func TestDeleteIntentsOnlyTheRecordedBatches(t *testing.T) {
	s, p := openTest(t)
	err := s.Write(func(tx *gorm.DB) error {
		for seq := 1; seq <= 3; seq++ {
			if err := AddIntent(tx, 4, seq, p.ID, SideB, []IntentEntry{{"a.vcf", ""}}); err != nil {
				return err
			}
		}
		return DeleteIntents(tx, 4, []int{1, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	var left []Intent
	if err := s.DB.Find(&left).Error; err != nil || len(left) != 1 || left[0].Seq != 2 {
		t.Fatalf("%+v %v", left, err)
	}
	if err := s.DeletePair(p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DB.Find(&left).Error; err != nil || len(left) != 0 {
		t.Fatalf("the pair's intents outlived it: %+v %v", left, err)
	}
}

// A damaged intent (the engine never writes one) does not stop the pair:
// it is dropped, and the good ones still become pending rows.
func TestMaterializeIntentsDropsDamaged(t *testing.T) {
	s, p := openTest(t)
	bad := []Intent{
		{RunID: 1, Seq: 1, PairID: p.ID, Side: "c", Entries: "1:x0:"},
		{RunID: 1, Seq: 2, PairID: p.ID, Side: SideB, Entries: "9:short"},
	}
	err := s.Write(func(tx *gorm.DB) error {
		if err := tx.Create(&bad).Error; err != nil {
			return err
		}
		return AddIntent(tx, 1, 3, p.ID, SideB, []IntentEntry{{"ok.vcf", "k"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.MaterializeIntents(p.ID); err != nil || n != 1 {
		t.Fatalf("added %d, %v; want 1", n, err)
	}
	var left int64
	if err := s.DB.Model(&Intent{}).Count(&left).Error; err != nil || left != 0 {
		t.Fatalf("%d intents left, %v", left, err)
	}
}
