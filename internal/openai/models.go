package openai

// Model is one entry of GET /v1/models. Backends, AliasFor and Metadata are
// Continuum's additions: the backends serving the model, for an alias the
// model it stands for, and the model's metadata (model_metadata_file and
// model_configs[].metadata: display_name, capabilities, context length,
// pricing, … kept as written; an alias shows its model's).
type Model struct {
	ID       string         `json:"id"`
	Object   string         `json:"object"`
	Created  int64          `json:"created"`
	OwnedBy  string         `json:"owned_by"`
	Backends []string       `json:"backends"`
	AliasFor string         `json:"alias_for,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
