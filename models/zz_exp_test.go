package models

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
)

func BenchmarkExpCommits(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s, p := openTest(b)
		for _, q := range strings.Split(os.Getenv("EXP_SQL"), ";") {
			if q != "" {
				if err := s.DB.Exec(q).Error; err != nil {
					b.Fatal(err)
				}
			}
		}
		noEvents := os.Getenv("EXP_NOEVENTS") != ""
		noMaps := os.Getenv("EXP_NOMAPS") != ""
		now := time.Now()
		ms := make([]*Mapping, 10000)
		es := make([]Event, len(ms))
		for i := range ms {
			ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("contact-%07d.vcf", i), BID: fmt.Sprintf("%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b.vcf", i*7919),
				AVersion: fmt.Sprintf("412-17000000%010d", i), BVersion: fmt.Sprintf("415-17000001%010d", i), State: StateOK, Key: fmt.Sprintf("uid-%07d", i),
				Base: map[string]string{"uid": fmt.Sprintf("uid-%07d", i), "name": "Person", "email": "person@example.com", "phone": "+15551234567"}, SyncedAt: now}
			es[i] = Event{RunID: 1, PairID: p.ID, At: now, AID: ms[i].AID, BID: ms[i].BID, Side: SideB, Action: "create", Fields: "uid,name,email,phone"}
		}
		b.StartTimer()
		for start := 0; start < len(ms); start += 1000 {
			if err := s.Write(func(tx *gorm.DB) error {
				if !noMaps {
					if err := SaveMappings(tx, ms[start:start+1000]); err != nil {
						return err
					}
				}
				if noEvents {
					return nil
				}
				return AddEvents(tx, es[start:start+1000])
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
