// render: a small stand-in for `helm template`, for testing the keyfleet-controller chart where
// there is no helm binary. It renders every template of a chart with Go's text/template and the
// sprig functions, as Helm 3 does, into one multi-document YAML stream on stdout:
//
//	render -chart DIR [-f VALUES.yaml]... [-release NAME] [-namespace NS] [-notes FILE]
//
// What it implements of Helm, and only that: .Values (the chart's values.yaml deep-merged with
// each -f file in turn; a null removes a key), .Release (Name, Namespace, Service, IsInstall,
// IsUpgrade, Revision), .Chart (Chart.yaml's fields, capitalised as Helm does), .Capabilities
// (KubeVersion and APIVersions.Has, fixed), .Template (Name, BasePath), .Files.Get; the functions
// include, tpl, required, fail, toYaml, fromYaml, fromYamlArray, toJson, fromJson and lookup
// (always empty, as in `helm template`), and sprig's others but env and expandenv (which Helm
// removes too). Templates named _* are partials and NOTES.txt is rendered apart (-notes), as
// Helm does. A missing value renders as nothing ("<no value>" is dropped, as Helm drops it).
// Not implemented: subcharts, -set, schema validation (the checker validates values against
// values.schema.json itself), hooks' ordering, sorting by kind.
//
// A failing `required` or `fail` exits 1 with the template error, which carries its message.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

// apiVersions answers .Capabilities.APIVersions.Has as a cluster with the core APIs would.
type apiVersions []string

func (a apiVersions) Has(version string) bool {
	for _, v := range a {
		if v == version {
			return true
		}
	}
	return false
}

// chartFiles answers .Files.Get with a file of the chart, relative to its directory.
type chartFiles struct{ root string }

func (f chartFiles) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(data)
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

// mergeValues merges `override` into `base` as Helm coalesces values: maps merge key by key,
// anything else replaces, and a null removes the key.
func mergeValues(base, override map[string]interface{}) map[string]interface{} {
	for key, value := range override {
		if value == nil {
			delete(base, key)
			continue
		}
		if overrideMap, ok := value.(map[string]interface{}); ok {
			if baseMap, ok := base[key].(map[string]interface{}); ok {
				base[key] = mergeValues(baseMap, overrideMap)
				continue
			}
		}
		base[key] = value
	}
	return base
}

// chartObject gives Chart.yaml's fields the names Helm's .Chart has (apiVersion -> APIVersion,
// appVersion -> AppVersion, …).
func chartObject(meta map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for key, value := range meta {
		name := strings.ToUpper(key[:1]) + key[1:]
		if key == "apiVersion" {
			name = "APIVersion"
		}
		out[name] = value
	}
	return out
}

func toYAML(v interface{}) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

type renderer struct {
	chartName string
	templates *template.Template
}

func (r *renderer) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := r.templates.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := r.templates.Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl %q: %v", text, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil {
			return nil, errors.New(message)
		}
		if s, ok := value.(string); ok && s == "" {
			return nil, errors.New(message)
		}
		return value, nil
	}
	f["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	f["toYaml"] = func(v interface{}) string {
		out, err := toYAML(v)
		if err != nil {
			return "" // as Helm's toYaml
		}
		return out
	}
	f["fromYaml"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	f["fromYamlArray"] = func(text string) []interface{} {
		var out []interface{}
		if err := yaml.Unmarshal([]byte(text), &out); err != nil {
			return []interface{}{err.Error()}
		}
		return out
	}
	f["toJson"] = func(v interface{}) string {
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	}
	f["fromJson"] = func(text string) map[string]interface{} {
		out := map[string]interface{}{}
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			out["Error"] = err.Error()
		}
		return out
	}
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func run() error {
	chartDir := flag.String("chart", "", "the chart's directory")
	release := flag.String("release", "keyfleet", "the release name")
	namespace := flag.String("namespace", "keyfleet", "the release namespace")
	notesPath := flag.String("notes", "", "write the rendered NOTES.txt here")
	var files valueFiles
	flag.Var(&files, "f", "a values file merged over the chart's (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		return errors.New("-chart DIR is required")
	}
	meta, err := readYAMLMap(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAMLMap(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, file := range files {
		override, err := readYAMLMap(file)
		if err != nil {
			return err
		}
		values = mergeValues(values, override)
	}
	chartName, _ := meta["name"].(string)
	r := &renderer{chartName: chartName}
	r.templates = template.New(chartName).Option("missingkey=zero").Funcs(r.funcs())

	// Every file under templates/ is parsed, named CHART/templates/PATH as Helm names it.
	templatesDir := filepath.Join(*chartDir, "templates")
	var names []string
	err = filepath.WalkDir(templatesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(*chartDir, path)
		if err != nil {
			return err
		}
		name := chartName + "/" + filepath.ToSlash(rel)
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := r.templates.New(name).Parse(string(text)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)

	basePath := chartName + "/templates"
	top := func(name string) map[string]interface{} {
		return map[string]interface{}{
			"Values": values,
			"Release": map[string]interface{}{
				"Name": *release, "Namespace": *namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Chart": chartObject(meta),
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{
					"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0",
				},
				"APIVersions": apiVersions{
					"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1",
				},
			},
			"Template": map[string]interface{}{"Name": name, "BasePath": basePath},
			"Files":    chartFiles{root: *chartDir},
		}
	}
	var out strings.Builder
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := r.templates.ExecuteTemplate(&buf, name, top(name)); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			if *notesPath != "" {
				if err := os.WriteFile(*notesPath, []byte(text), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		for _, doc := range documentSeparator.Split(text, -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}
