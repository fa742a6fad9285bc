package limit

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial through its package logger; the
	// outage tests cause thousands.
	redis.SetLogger(&logging.VoidLogger{})
	os.Exit(m.Run())
}
