package openai

// Model is one entry of GET /v1/models. Backends and AliasFor are
// Continuum's additions: the backends serving the model, and for an alias the
// model it stands for.
type Model struct {
	ID       string   `json:"id"`
	Object   string   `json:"object"`
	Created  int64    `json:"created"`
	OwnedBy  string   `json:"owned_by"`
	Backends []string `json:"backends"`
	AliasFor string   `json:"alias_for,omitempty"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
