// Command continuum is an LLM router: one OpenAI-compatible endpoint in
// front of many inference backends. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/continuumhq/continuum/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := app.Main(ctx, os.Args[1:], app.Env{Stdout: os.Stdout, Stderr: os.Stderr, Reload: hup, Upgrade: upgradeSignal()})
	stop()
	os.Exit(code)
}
