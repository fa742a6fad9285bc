package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned (wrapped) by Find when no configuration file exists
// in any of the places searched.
var ErrNotFound = errors.New("no configuration file found")

// Find returns the configuration file to use: explicit when it is not
// empty, else $CONTINUUM_CONFIG when set, else the first of these that
// exists: ./config.yaml, ./config.yml,
// $XDG_CONFIG_HOME/continuum/config.yaml (XDG_CONFIG_HOME defaulting to
// $HOME/.config), /etc/continuum/config.yaml, and continuum-router's
// /etc/continuum-router/config.yaml. Paths given explicitly or
// through the environment are returned without checking that they exist.
// env looks up environment variables; nil means os.LookupEnv.
func Find(explicit string, env func(string) (string, bool)) (string, error) {
	return find(explicit, env, func(path string) bool {
		info, err := os.Stat(path)
		return err == nil && !info.IsDir()
	})
}

func find(explicit string, env func(string) (string, bool), exists func(string) bool) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if env == nil {
		env = os.LookupEnv
	}
	if p, ok := env("CONTINUUM_CONFIG"); ok && p != "" {
		return p, nil
	}
	candidates := []string{"./config.yaml", "./config.yml"}
	xdg, ok := env("XDG_CONFIG_HOME")
	if !ok || xdg == "" {
		if home, ok := env("HOME"); ok && home != "" {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "continuum", "config.yaml"))
	}
	candidates = append(candidates, filepath.Join("/etc", "continuum", "config.yaml"),
		filepath.Join("/etc", "continuum-router", "config.yaml"))
	for _, c := range candidates {
		if exists(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("find config: %w (looked for %s; use -c FILE or set CONTINUUM_CONFIG)", ErrNotFound, strings.Join(candidates, ", "))
}
