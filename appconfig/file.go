package appconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clusterd/clusterd/appfile"
	"github.com/clusterd/clusterd/config"
	"github.com/spf13/pflag"
)

// Load reads the file's apps into one master configuration each.
// Each one's Reconfigure reads the file again for its own app, so a reload
// runs what the file says then.
//
// What has no effect here is logged, a line per field, once for each time
// Load reads the file (at the start, and on SIGHUP or reload --all), never
// once per app.
func Load(path, profile string, cli CommandLine, newLogger NewLogger) ([]config.Config, error) {
	configs, warnings, err := read(path, profile, cli, newLogger)
	if err != nil {
		return nil, err
	}
	if len(configs) > 0 {
		for _, w := range warnings {
			configs[0].Logger.Warn(w)
		}
	}
	for i := range configs {
		name := configs[i].Name
		configs[i].Reconfigure = func() (config.Config, error) {
			again, err := Read(path, profile, cli, newLogger)
			if err != nil {
				return config.Config{}, err
			}
			for _, cfg := range again {
				if cfg.Name == name {
					return cfg, nil
				}
			}
			return config.Config{}, fmt.Errorf("%s: app %q is no longer in the file: its workers keep running; stop it with clusterd stop %s", path, name, name)
		}
		configs[i].Logger = configs[i].Logger.With("app", name)
	}
	return configs, nil
}

// Read reads the file once: one configuration per app, from the
// defaults, then the app's fields, then the flags on the command line.
func Read(path, profile string, cli CommandLine, newLogger NewLogger) ([]config.Config, error) {
	configs, _, err := read(path, profile, cli, newLogger)
	return configs, err
}

// read is Read, with the warnings: one line each.
func read(path, profile string, cli CommandLine, newLogger NewLogger) ([]config.Config, []string, error) {
	apps, err := loadApps(path, profile)
	if err != nil {
		return nil, nil, err
	}
	if len(apps) > 1 {
		for _, perProcess := range []string{"name", "control", "pidfile"} {
			if cli.has(perProcess) {
				return nil, nil, UsageError{fmt.Errorf("--%s is one app's, and %s has %d apps: give each app its own %s in the file", perProcess, path, len(apps), perProcess)}
			}
		}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, nil, err
	}
	configs := make([]config.Config, 0, len(apps))
	var warnings []string
	for _, app := range apps {
		for _, w := range app.Warnings {
			warnings = append(warnings, w.String())
		}
		cfg, unknown, err := appConfig(path, dir, app, cli, newLogger)
		if err != nil {
			return nil, nil, err
		}
		configs = append(configs, cfg)
		for _, u := range unknown {
			warnings = append(warnings, u.Error())
		}
	}
	return configs, warnings, nil
}

// appConfig is one app's configuration. Its fields are set as the flags of
// the same name would be, so a value reads the same in the file and on the
// command line; relative paths are the file's directory's.
//
// A field that neither PM2 nor clusterd knows is left out with a warning
// naming the nearest known field: PM2 ignores such fields, so a file PM2
// runs must run here too, and the warning still shows a typo.
func appConfig(path, dir string, app appfile.App, cli CommandLine, newLogger NewLogger) (_ config.Config, unknown []*appfile.Error, _ error) {
	fs := pflag.NewFlagSet(app.Name, pflag.ContinueOnError)
	flags := NewFlags(fs)
	// As in PM2, an app runs one instance unless its instances says more.
	flags.instances.Set("1")
	for _, s := range app.Settings {
		fieldErr := func(err error) *appfile.Error {
			return &appfile.Error{Path: path, Line: s.Line, App: app.Name, Index: app.Index, Field: s.Field, Err: err}
		}
		fail := func(err error) (config.Config, []*appfile.Error, error) { return config.Config{}, nil, fieldErr(err) }
		flag := fs.Lookup(s.Flag)
		if flag == nil {
			why := "unknown field, ignored as PM2 ignores it: not one of PM2's fields nor a clusterd flag's name with underscores"
			if near := nearestField(s.Field, fs); near != "" {
				why = fmt.Sprintf("unknown field, ignored as PM2 ignores it: did you mean %s?", near)
			}
			unknown = append(unknown, fieldErr(errors.New(why)))
			continue
		}
		if err := setFlag(flag, s.Values); err != nil {
			return fail(err)
		}
	}
	// The command line wins over the file.
	for _, given := range cli {
		if to := fs.Lookup(given.name); to != nil {
			if err := setFlag(to, given.values); err != nil {
				return config.Config{}, nil, err
			}
		}
	}
	cfg := flags.Config(newLogger)
	if !cli.has("name") {
		cfg.Name = app.Name
	}
	cfg.Command, cfg.Env = app.Command, app.Env
	flags.ForCommand(&cfg)
	// An app of a file that names no listen and is not Node (a bash job, a
	// queue consumer) gets no socket, rather than the default address on
	// every interface; a Node app keeps it, for its listen(PORT). Under
	// socket activation the inherited sockets are the apps' to share.
	if len(cfg.Listen) == 0 && !cfg.NodeCompat && os.Getenv("LISTEN_FDS") == "" {
		cfg.NoListen = true
	}
	cfg.WorkerEnv = app.WorkerEnv
	cfg.Namespace = app.Namespace
	if app.CronRestart != nil {
		cfg.CronRestart = app.CronRestart
	}
	// PM2 runs an app in the file's directory unless its cwd says otherwise.
	cfg.Dir = inDir(dir, cfg.Dir)
	if cfg.Dir == "" {
		cfg.Dir = dir
	}
	for _, file := range []*string{&cfg.LogFile, &cfg.OutFile, &cfg.ErrorFile, &cfg.Pidfile} {
		*file = inDir(dir, *file)
	}
	return cfg, unknown, nil
}

// CommandLine are the flags given on the command line, with their values,
// read once: every re-read of the file applies them again, from any
// master's goroutine, without touching the flag set.
type CommandLine []givenFlag

type givenFlag struct {
	name   string
	values []string
}

func ReadCommandLine(fs *pflag.FlagSet) CommandLine {
	var out CommandLine
	fs.Visit(func(f *pflag.Flag) {
		values := []string{f.Value.String()}
		if slice, ok := f.Value.(pflag.SliceValue); ok {
			values = slice.GetSlice()
		}
		out = append(out, givenFlag{f.Name, values})
	})
	return out
}

func (v CommandLine) has(name string) bool {
	return slices.ContainsFunc(v, func(f givenFlag) bool { return f.name == name })
}

// setFlag gives flag the values of one field: a list replaces a
// repeatable flag's values, anything else takes one value.
func setFlag(flag *pflag.Flag, values []string) error {
	if slice, ok := flag.Value.(pflag.SliceValue); ok {
		return slice.Replace(values)
	}
	if len(values) != 1 {
		return fmt.Errorf("want one value, not a list of %d", len(values))
	}
	return flag.Value.Set(values[0])
}

// inDir is path relative to dir when it is relative.
func inDir(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// nearestField is the field name closest to a mistyped one, if one is
// close: a flag's name with underscores, or one of PM2's own.
func nearestField(field string, fs *pflag.FlagSet) string {
	best, bestDistance := "", 3 // at most two edits away
	consider := func(name string) {
		if d := editDistance(field, name); d < bestDistance {
			best, bestDistance = name, d
		}
	}
	fs.VisitAll(func(f *pflag.Flag) { consider(strings.ReplaceAll(f.Name, "-", "_")) })
	for _, name := range appfile.Fields() {
		consider(name)
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// loadApps reads the apps of a YAML or JSON file, or of a JavaScript
// ecosystem file evaluated with node: PM2 users start theirs unconverted.
func loadApps(path, profile string) ([]appfile.App, error) {
	if !IsJavaScript(path) {
		return appfile.Load(path, profile)
	}
	data, err := readEcosystem(path)
	if err != nil {
		return nil, err
	}
	return appfile.Parse(data, path, profile)
}
