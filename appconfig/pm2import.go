package appconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/clusterd/clusterd/appfile"
	"go.yaml.in/yaml/v3"
)

// evaluateEcosystem prints a PM2 ecosystem file's apps as JSON: the file is
// JavaScript (it may compute its apps), so only node can read it.
const evaluateEcosystem = `
const path = require('path');
let c = require(path.resolve(process.argv[1]));
if (c && c.default) c = c.default;
if (Array.isArray(c)) c = {apps: c};
else if (c && !c.apps) c = {apps: [c]};
process.stdout.write(JSON.stringify(c, (k, v) => typeof v === 'function' ? undefined : v));
`

// ImportPM2 converts the ecosystem file at path. dropped names each field
// left out, or kept without effect, and why.
func ImportPM2(path string, newLogger NewLogger) (out []byte, dropped []string, err error) {
	data, err := readEcosystem(path)
	if err != nil {
		return nil, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	plainStyle(&doc)
	// Leave out, one at a time, each field the check stops at, until the
	// file reads; a problem that is not one field's is an error.
	dir := filepath.Dir(path)
	var apps []appfile.App
	for {
		if out, err = yaml.Marshal(&doc); err != nil {
			return nil, nil, err
		}
		apps, err = appfile.Parse(out, path, "")
		if err == nil {
			for _, app := range apps {
				var unknown []*appfile.Error
				if _, unknown, err = appConfig(path, dir, app, nil, newLogger); err != nil {
					break
				}
				if len(unknown) > 0 {
					err = unknown[0] // left out below, like a field the check refuses
					break
				}
			}
		}
		if err == nil {
			break
		}
		var fieldErr *appfile.Error
		if !errors.As(err, &fieldErr) || fieldErr.Index == 0 || !removeField(&doc, fieldErr.Index, fieldErr.Field) {
			return nil, nil, err
		}
		dropped = append(dropped, fmt.Sprintf("left out app %q: %s: %v", fieldErr.App, fieldErr.Field, fieldErr.Err))
	}
	for _, app := range apps {
		for _, w := range app.Warnings {
			// Kept, so the file says what the ecosystem file said; the
			// line numbers are the converted file's.
			dropped = append(dropped, strings.TrimPrefix(w.String(), path+":"))
		}
	}
	var header strings.Builder
	fmt.Fprintf(&header, "# clusterd config, converted by clusterd import-pm2 from %s\n", filepath.Base(path))
	for _, d := range dropped {
		header.WriteString("# " + d + "\n")
	}
	return append([]byte(header.String()), out...), dropped, nil
}

// removeField deletes field from the app at index (from 1) of the apps
// list; false if there is no such field, or it is one an app cannot do
// without.
func removeField(doc *yaml.Node, index int, field string) bool {
	switch field {
	case "", "name", "script", "cmd":
		return false
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "apps" {
			continue
		}
		apps := root.Content[i+1].Content
		if index > len(apps) {
			return false
		}
		a := apps[index-1]
		for j := 0; j+1 < len(a.Content); j += 2 {
			if a.Content[j].Value == field {
				a.Content = append(a.Content[:j], a.Content[j+2:]...)
				return true
			}
		}
	}
	return false
}

// plainStyle drops the JSON quoting, so the output reads as YAML.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

func firstLine(s string, err error) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "at ") {
			return line
		}
	}
	return err.Error()
}

// IsJavaScript: path is a PM2 ecosystem file written in JavaScript.
func IsJavaScript(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".js", ".cjs", ".mjs":
		return true
	}
	return false
}

// readEcosystem reads a config file; one in JavaScript is evaluated with
// node, as PM2 does (it may compute its apps), into the JSON of its apps.
func readEcosystem(path string) ([]byte, error) {
	if !IsJavaScript(path) {
		return os.ReadFile(path)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%s is JavaScript, and node, which evaluates it, is not in PATH", path)
	}
	var stderr bytes.Buffer
	c := exec.Command(node, "-e", evaluateEcosystem, path)
	c.Stderr = &stderr
	data, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("node could not evaluate %s: %s", path, firstLine(stderr.String(), err))
	}
	return data, nil
}
