package app

import (
	"context"
	"fmt"
)

func benchCmd(ctx context.Context, args []string, env Env) int {
	fmt.Fprintln(env.Stderr, "continuum bench: not built yet")
	return ExitFailure
}
