package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Parse decodes a configuration from data, applies defaults and validates
// it. filename is used in diagnostics only. lookupEnv resolves ${VAR}
// references; nil means os.LookupEnv. api_keys_file is not read: see Load.
//
// Parse returns the configuration (nil when there are errors), the warnings,
// and an ErrorList holding every error found, decoding and validation alike.
func Parse(data []byte, filename string, lookupEnv func(string) (string, bool)) (*Config, []Diagnostic, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	d := newDecoder(filename, lookupEnv)
	return d.finish(d.parse(data))
}

// Load reads and parses the configuration file at path, expanding ${VAR}
// from the process environment, then reads api_keys_file (relative to the
// directory of path) and appends its keys, reads model_metadata_file
// (relative to the same directory) into ModelMetadata, and reads the prompt
// files of global_prompts (see GlobalPromptsConfig). Errors in the keys and
// metadata files carry their names; a prompt file that cannot be read is an
// error at the line that names it. Load returns the same values as Parse; a
// configuration file that cannot be read is a plain error.
func Load(path string) (*Config, []Diagnostic, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	return LoadData(path, data)
}

// LoadData is Load with the file's content already read: data stands for the
// file at path (a new version to check before it is written, or a
// configuration another replica published), so diagnostics name path and
// api_keys_file, model_metadata_file and prompt files are read relative to
// its directory.
func LoadData(path string, data []byte) (*Config, []Diagnostic, error) {
	d := newDecoder(path, os.LookupEnv)
	c := d.parse(data)
	if c != nil && c.APIKeys.File != "" {
		d.keysFile(c, filepath.Dir(path))
	}
	if c != nil {
		d.promptFiles(c, filepath.Dir(path))
	}
	if c != nil && c.ModelMetadataFile != "" {
		d.metadataFile(c, filepath.Dir(path))
	}
	return d.finish(c)
}

// position is where a value was written.
type position struct {
	file      string
	line, col int
}

// sourceInfo records where the settings of a parsed Config were written.
type sourceInfo struct {
	// pos maps a setting's path, as written, to the position of its value.
	pos map[string]position
	// rename maps a logical path (as Validate names settings) to the path as
	// written, for synonyms (retry_override) and merged entries (the
	// aliases of model_configs, fallback.fallback_chains).
	rename map[string]string
}

// decoder walks a yaml.Node tree onto a Config, collecting diagnostics.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	src    *sourceInfo
	errs   []Diagnostic
	warns  []Diagnostic
	// values counts the nodes anyValue has turned into Go values, aliases
	// expanded, to stop at maxExpandedNodes whatever the caller checked.
	values int
}

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{
		file:   file,
		lookup: lookup,
		src:    &sourceInfo{pos: map[string]position{}, rename: map[string]string{}},
	}
}

// errorf records an error about the setting at path, located at n. The
// message is prefixed with the path.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, d.diag(n, path, prefixed(path, fmt.Sprintf(format, args...))))
}

// warnf records a warning about the setting at path, located at n. The
// message is prefixed with the path.
func (d *decoder) warnf(n *yaml.Node, path, format string, args ...any) {
	d.warns = append(d.warns, d.diag(n, path, prefixed(path, fmt.Sprintf(format, args...))))
}

func (d *decoder) diag(n *yaml.Node, path, msg string) Diagnostic {
	dg := Diagnostic{File: d.file, Path: path, Msg: maskSecrets(msg)}
	if n != nil {
		dg.Line, dg.Col = n.Line, n.Column
	}
	return dg
}

func prefixed(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// record notes that the setting at path was written at n.
func (d *decoder) record(path string, n *yaml.Node) {
	d.src.pos[path] = position{file: d.file, line: n.Line, col: n.Column}
}

// yamlLine extracts the line from yaml's syntax errors ("yaml: line 3: …").
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// parse decodes data onto the defaults. It returns nil when data is not
// valid YAML.
func (d *decoder) parse(data []byte) *Config {
	root, ok := d.document(data)
	if !ok {
		return nil
	}
	c := Default()
	c.File = d.file
	c.src = d.src
	if root != nil {
		d.config(root, c)
	}
	d.mergeFallbacks(c)
	d.mergeAliases(c)
	return c
}

// document parses data into a node tree and returns its root; nil for an
// empty document.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.syntaxError(err, data)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntaxError(err, data)
		return nil, false
	default:
		d.errorf(&extra, "", "the file holds more than one YAML document; only one is allowed")
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	if !d.checkExpansion(&doc) {
		return nil, false
	}
	return resolve(doc.Content[0]), true
}

// syntaxError records a YAML syntax error in data at the best position
// that can be known (see syntaxPosition).
func (d *decoder) syntaxError(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	dg := Diagnostic{File: d.file}
	dg.Line, dg.Col = syntaxPosition(msg, line, data)
	dg.Msg = "invalid YAML: " + maskSecrets(msg)
	d.errs = append(d.errs, dg)
}

// isParserProblem reports whether problem is one the YAML library's
// parser (not its scanner) reports. For those the library gives the line
// of the construct being parsed (or of the offending token) counted from
// 0, and no line at all for the first one.
func isParserProblem(problem string) bool {
	switch problem {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected <stream-start>", "did not find expected key",
		"did not find expected node content", "found duplicate %TAG directive",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// Problems of the YAML library's scanner that are found at a tab.
const (
	problemTab         = "found a tab character that violates indentation"
	problemNoTokenHere = "found character that cannot start any token"
)

// syntaxPosition returns the line and column (1-based) of a YAML syntax
// error whose message is problem and for which the YAML library gave line
// (0: none). The library gives no column, and a line that is that of the
// construct the error was found in, counted from 0 for parser errors and
// from 1 for scanner errors, and omitted when it is the first. The
// column is found in data where that is certain (the tab of a tab error,
// the bracket or brace opening an unfinished flow collection); otherwise
// it is 1. A problem the library does not report from its parser or
// scanner (an unknown anchor) keeps the line given, with no column.
func syntaxPosition(problem string, line int, data []byte) (int, int) {
	lines := bytes.Split(data, []byte("\n"))
	switch {
	case isParserProblem(problem):
		line++
	case strings.HasPrefix(problem, "found "), strings.HasPrefix(problem, "did not find "),
		strings.HasPrefix(problem, "could not find "), strings.HasSuffix(problem, "not allowed in this context"):
		// A scanner error: the line is counted from 1, or is the first.
		line = max(line, 1)
	default:
		return line, 0
	}
	if line > len(lines) {
		return line, 1
	}
	switch problem {
	case problemTab:
		// The context's line comes first: the tab is on the first line
		// from it that is indented with one.
		for i := line - 1; i < len(lines); i++ {
			if col := indentTab(lines[i]); col > 0 {
				return i + 1, col
			}
		}
	case problemNoTokenHere:
		if col := indentTab(lines[line-1]); col > 0 {
			return line, col
		}
	case "did not find expected ',' or ']'":
		if col := soleOpener(lines[line-1], '['); col > 0 {
			return line, col
		}
	case "did not find expected ',' or '}'":
		if col := soleOpener(lines[line-1], '{'); col > 0 {
			return line, col
		}
	}
	return line, 1
}

// indentTab returns the column of the first tab in the indentation of
// line, 0 when there is none.
func indentTab(line []byte) int {
	for i, c := range line {
		switch c {
		case ' ':
		case '\t':
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// soleOpener returns the column of open ('[' or '{') when it is the only
// one on line and is not closed on it (the flow collection the library
// was parsing), 0 otherwise. Lines with quotes or comments are not read.
func soleOpener(line []byte, open byte) int {
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	if bytes.Count(line, []byte{open}) != 1 || bytes.IndexByte(line, closer) >= 0 || bytes.ContainsAny(line, "'\"#") {
		return 0
	}
	return bytes.IndexByte(line, open) + 1
}

// finish completes a parsed configuration: default key ids, validation,
// sorting. It returns c only when there are no errors.
func (d *decoder) finish(c *Config) (*Config, []Diagnostic, error) {
	if c != nil {
		mergeMetadata(c)
		for i := range c.APIKeys.Keys {
			if c.APIKeys.Keys[i].ID == "" {
				c.APIKeys.Keys[i].ID = "key-" + strconv.Itoa(i)
			}
		}
		if len(c.Backends) == 0 {
			d.warns = append(d.warns, Diagnostic{File: d.file, Path: "backends",
				Msg: "no backends are configured; every request will fail until some are added"})
		}
		for i, b := range c.Backends {
			if b.APIKey != "" && hasUserinfo(b.URL) {
				p := pathKey(pathIndex("backends", i), "url")
				d.warns = append(d.warns, d.diagAt(p, p+": the URL's user name and password are not sent: api_key is set, and its bearer token wins"))
			}
		}
		if c.APIKeys.Mode == "blocking" && len(c.APIKeys.Keys) == 0 && c.APIKeys.File == "" {
			d.warns = append(d.warns, d.diagAt("api_keys.mode",
				"api_keys.mode: blocking with no keys configured; every /v1 request will be refused"))
		}
		for _, v := range c.validate() {
			if !d.coveredByError(v.Path) {
				d.errs = append(d.errs, v)
			}
		}
		d.globalOnlyWarnings(c)
		d.promptBackendWarnings(c)
	}
	sortDiagnostics(d.warns)
	if len(d.errs) > 0 {
		sortDiagnostics(d.errs)
		return nil, d.warns, ErrorList(d.errs)
	}
	return c, d.warns, nil
}

// globalOnly lists the settings of a backend's override blocks that only
// the global block sets: they apply to a whole request, or to the whole
// router, not to one backend. The value says why.
var globalOnly = []struct {
	key, why string
	same     func(c *Config, b *Backend) bool // the backend's value is the global one
}{
	{".request.max_retries", "attempts are counted per request",
		func(c *Config, b *Backend) bool { return b.Request.MaxRetries == c.Request.MaxRetries }},
	{".retry.max_attempts", "attempts are counted per request",
		func(c *Config, b *Backend) bool { return b.Retry.MaxAttempts == c.Retry.MaxAttempts }},
	{".retry.budget_ratio", "the retry budget is shared by all backends",
		func(c *Config, b *Backend) bool { return b.Retry.BudgetRatio == c.Retry.BudgetRatio }},
	{".retry.budget_min_per_second", "the retry budget is shared by all backends",
		func(c *Config, b *Backend) bool { return b.Retry.BudgetMinPerSecond == c.Retry.BudgetMinPerSecond }},
	{".retry.budget_window", "the retry budget is shared by all backends",
		func(c *Config, b *Backend) bool { return b.Retry.BudgetWindow == c.Retry.BudgetWindow }},
	{".health_checks.panic_threshold", "panic mode is decided per model",
		func(c *Config, b *Backend) bool {
			return b.HealthChecks.PanicThreshold == c.HealthChecks.PanicThreshold
		}},
}

// globalOnlyWarnings warns about each globalOnly setting written in a
// backend's block with a value other than the global one: it has no effect.
func (d *decoder) globalOnlyWarnings(c *Config) {
	for i := range c.Backends {
		for _, g := range globalOnly {
			p := d.written(pathIndex("backends", i) + g.key)
			if _, ok := d.src.pos[p]; !ok || g.same(c, &c.Backends[i]) || d.coveredByError(p) {
				continue
			}
			d.warns = append(d.warns, d.diagAt(p, fmt.Sprintf(
				"%s: has no effect in a backend's block (%s); set it in the global block", p, g.why)))
		}
	}
}

// written returns the path a setting was written at: its logical path with
// synonyms (retry_override, health_check) resolved.
func (d *decoder) written(logical string) string {
	for q := logical; q != ""; q = parentPath(q) {
		if r, ok := d.src.rename[q]; ok {
			return r + logical[len(q):]
		}
	}
	return logical
}

// coveredByError reports whether a decoding error was already reported for
// path or one of its parents, so that validation does not report a second,
// derived problem (a URL that failed to decode is also "missing").
func (d *decoder) coveredByError(path string) bool {
	for _, e := range d.errs {
		if e.Path != "" && (path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[")) {
			return true
		}
	}
	return false
}

// diagAt returns a diagnostic located where path was recorded.
func (d *decoder) diagAt(path, msg string) Diagnostic {
	dg := Diagnostic{File: d.file, Path: path, Msg: maskSecrets(msg)}
	if p, ok := d.src.pos[path]; ok {
		dg.File, dg.Line, dg.Col = p.file, p.line, p.col
	}
	return dg
}

// keysFile reads api_keys_file (relative to dir) and appends its keys.
func (d *decoder) keysFile(c *Config, dir string) {
	const path = "api_keys.api_keys_file"
	file := c.APIKeys.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	c.APIKeys.File = file
	data, err := os.ReadFile(file)
	if err != nil {
		d.errs = append(d.errs, d.diagAt(path, fmt.Sprintf("%s: %v", path, err)))
		return
	}
	saved := d.file
	d.file = file
	defer func() { d.file = saved }()
	root, ok := d.document(data)
	if !ok || root == nil || isNull(root) {
		return
	}
	// Keys from the file are numbered after the inline ones.
	const list = "api_keys.api_keys"
	first := len(c.APIKeys.Keys)
	switch root.Kind {
	case yaml.SequenceNode:
		d.keyList(root, list, &c.APIKeys.Keys, first)
	case yaml.MappingNode:
		for _, e := range d.entries(root, "") {
			if e.key != "api_keys" {
				d.errs = append(d.errs, d.diag(e.keyNode, "",
					fmt.Sprintf("unknown key %q in an api_keys_file%s", e.key, didYouMean(e.key, []string{"api_keys"}))))
				continue
			}
			d.keyList(e.value, list, &c.APIKeys.Keys, first)
		}
	default:
		d.errs = append(d.errs, d.diag(root, "",
			"an api_keys_file holds a list of keys or a mapping with an api_keys list, got "+kindName(root)))
	}
}

// maxPromptFile bounds a prompt file: its text goes into every request.
const maxPromptFile = 1 << 20

// promptFiles reads the prompt files of global_prompts: relative paths
// are relative to prompts_dir, itself relative to dir (the configuration
// file's directory).
func (d *decoder) promptFiles(c *Config, dir string) {
	g := &c.GlobalPrompts
	base := dir
	if g.PromptsDir != "" {
		base = g.PromptsDir
		if !filepath.IsAbs(base) {
			base = filepath.Join(dir, base)
		}
	}
	read := func(path, file string) string {
		if !filepath.IsAbs(file) {
			file = filepath.Join(base, file)
		}
		text, err := readPromptFile(file)
		if err != nil {
			d.errs = append(d.errs, d.diagAt(path, fmt.Sprintf("%s: %v", path, err)))
			return ""
		}
		g.Files = append(g.Files, file)
		return text
	}
	if g.DefaultFile != "" {
		g.DefaultText = read("global_prompts.default_file", g.DefaultFile)
	}
	for _, set := range []struct {
		path string
		m    map[string]PromptConfig
	}{{"global_prompts.backends", g.Backends}, {"global_prompts.models", g.Models}} {
		for _, name := range sortedKeys(set.m) {
			pc := set.m[name]
			if pc.PromptFile == "" {
				continue
			}
			pc.Text = read(pathKey(pathKey(set.path, name), "prompt_file"), pc.PromptFile)
			set.m[name] = pc
		}
	}
}

// readPromptFile returns the text of a prompt file: UTF-8, at most
// maxPromptFile bytes.
func readPromptFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPromptFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > maxPromptFile {
		return "", fmt.Errorf("%s is larger than %d bytes", file, maxPromptFile)
	}
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%s is not UTF-8 text", file)
	}
	return string(data), nil
}
