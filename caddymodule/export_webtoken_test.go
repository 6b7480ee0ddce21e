package wechatauth

import (
	"testing"
	"time"
)

// UseWebTokenClockForTest makes every token keeper provisioned from now
// until the test ends read clock (the simulator's fake clock), so an
// integration test can move a session 7,300 s or 30 days forward.
func UseWebTokenClockForTest(t *testing.T, clock func() time.Time) {
	webTokenTestClock = clock
	t.Cleanup(func() { webTokenTestClock = nil })
}
