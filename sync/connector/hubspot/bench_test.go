package hubspot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tandem/sync/connector/hubspot"
	"tandem/sync/connector/hubspot/hubspottest"
)

// BenchmarkRequestsPer1000Changes measures what one incremental poll costs
// when 1,000 contacts changed since the last one: HTTP requests (searches,
// the archived listing, the one-off property definitions) per 1,000 changed
// contacts, and 429 answers, against the fake enforcing HubSpot's
// Professional limits (190 per 10 s rolling, search 4 per second).
//
// Time is virtual: the fake and the connector share a fake clock that the
// connector's waits advance, so the real 10-second window is kept (not
// scaled down) and the benchmark still runs fast. Between polls the 1,000
// updates are spread over 5 minutes of virtual time, so the 2-minute
// overlap window re-lists the previous poll's last ~400 changes, as it
// would in production.
func BenchmarkRequestsPer1000Changes(b *testing.B) {
	e := setup(b, hubspottest.Options{Burst: 190, SearchPerSecond: 4, Daily: 650000}, "professional", hubspot.Options{})
	ids := e.seed(5000)
	ctx := context.Background()
	ch, err := e.conn.Changes(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	cursor := ch.Cursor
	e.fake.ResetStats()
	changed := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := 0; j < 1000; j++ {
			e.clk.Advance(300 * time.Millisecond)
			e.fake.Update(ids[(i*1000+j)%len(ids)], map[string]string{"phone": fmt.Sprintf("+1 555 %04d", j)})
		}
		b.StartTimer()
		ch, err := e.conn.Changes(ctx, cursor)
		if err != nil {
			b.Fatal(err)
		}
		if len(ch.Items) < 1000 {
			b.Fatalf("poll %d saw %d items, want >= 1000", i, len(ch.Items))
		}
		cursor = ch.Cursor
		changed += 1000
	}
	b.StopTimer()
	st := e.fake.Stats()
	b.ReportMetric(float64(st.Total)*1000/float64(changed), "requests/1000changes")
	b.ReportMetric(float64(st.RateLimited), "429s")
}
