package config

import "slices"

// routerOnly lists, per block, the keys that continuum-router defines and
// Continuum does not support yet. Such a key is a warning, not an error, so
// that continuum-router files load unchanged. A block is named by its global
// path ("" is the top level); a backend's override blocks share the global
// block's name ("request" also covers backends[i].request).
//
// To support one of these keys, remove it here and add it to its decoder.
var routerOnly = map[string][]string{
	"": {
		"files", "tracing", "timeouts", "webui", "acp", "guardrails",
	},
	"request":  {"retry_delay"},
	"fallback": {"fallback_policy", "model_settings"},
	"metrics":  {"cardinality_limit", "optional_metrics", "persistence"},
	"admin":    {"stats"},
}

// isRouterOnly reports whether key, found in block, is a continuum-router
// setting that Continuum ignores.
func isRouterOnly(block, key string) bool {
	return slices.Contains(routerOnly[block], key)
}
