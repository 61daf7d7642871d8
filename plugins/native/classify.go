package native

import (
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/tuskq/tuskq/plugins/native/sdk"
)

// classifyOpen turns an error of plugin.Open into one that names the
// condition that failed and the fix. host and lib describe the two builds
// for the message (either may be nil).
func classifyOpen(err error, path string, host, lib *debug.BuildInfo) error {
	msg := err.Error()
	builds := fmt.Sprintf("(worker: %s; library: %s)", summary(host), summary(lib))
	switch {
	case strings.Contains(msg, "plugin: not implemented"):
		return fmt.Errorf("%w: Go's plugin package answered %q: the worker was built with CGO_ENABLED=0 or for a platform without plugin support; rebuild it with CGO_ENABLED=1, or use the process runtime", ErrUnsupported, msg)
	case strings.Contains(msg, "plugin was built with a different version of package"):
		pkg := msg[strings.LastIndex(msg, " ")+1:]
		return fmt.Errorf("%w %s: %s: the library and the worker must be built from the same source tree, with the same go.mod and go.sum, the same Go toolchain and the same flags (-race, -trimpath, -cover, -gcflags, -tags) %s; rebuild the library with make plugins after rebuilding the worker (Go error: %s)",
			ErrPackageMismatch, pkg, path, builds, msg)
	case strings.Contains(msg, "plugin already loaded"):
		return fmt.Errorf("%w: %s has the plugin path of a library this worker loaded before, but different contents; Go cannot unload a plugin or load two builds with the same plugin path: rebuild it with a new -ldflags=-pluginpath=X and -gcflags=PKG=-p=X (make plugins derives X from the version and a hash of the sources), or restart the worker (Go error: %s)",
			ErrAlreadyLoaded, path, msg)
	case strings.Contains(msg, "undefined symbol"), strings.Contains(msg, "could not find symbol"):
		return fmt.Errorf("%w: %s: the library refers to symbols the worker does not have: it was built against different builds of the worker's packages, or with -ldflags=-pluginpath but without the matching -gcflags=PKG=-p (make plugins sets both) %s (loader error: %s)",
			ErrLoad, path, builds, msg)
	case strings.Contains(msg, "wrong ELF class"), strings.Contains(msg, "invalid ELF header"), strings.Contains(msg, "file too short"):
		return fmt.Errorf("%w: %s is not a shared library for this platform (loader error: %s)", ErrNotPlugin, path, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrLoad, path, msg)
}

// classifyLookup turns an error of Plugin.Lookup into ErrSymbol.
func classifyLookup(err error, path string) error {
	return fmt.Errorf("%w: %s exports no variable %s (Go error: %w); declare one in package main: var %s sdk.Plugin = …",
		ErrSymbol, path, sdk.SymbolName, err, sdk.SymbolName)
}

var pluginType = reflect.TypeFor[sdk.Plugin]()

// asPlugin turns the symbol found under SymbolName into an sdk.Plugin. A
// variable's symbol is a pointer to it: var Plugin sdk.Plugin = v gives a
// *sdk.Plugin, var Plugin T gives a *T.
func asPlugin(sym any, path string) (sdk.Plugin, error) {
	switch v := sym.(type) {
	case *sdk.Plugin:
		if v == nil || *v == nil {
			return nil, fmt.Errorf("%w: %s exports %s as a nil sdk.Plugin; assign it a value", ErrType, path, sdk.SymbolName)
		}
		return *v, nil
	case sdk.Plugin:
		return v, nil
	}
	t := reflect.TypeOf(sym)
	if t.Kind() == reflect.Func {
		return nil, fmt.Errorf("%w: %s exports %s as a function (%s); export a variable instead: var %s sdk.Plugin = …",
			ErrType, path, sdk.SymbolName, t, sdk.SymbolName)
	}
	if t.Kind() == reflect.Pointer {
		if p, ok := reflect.ValueOf(sym).Elem().Interface().(sdk.Plugin); ok && p != nil {
			return p, nil
		}
		t = t.Elem() // describe the variable's type, not the pointer's
		if t.Kind() == reflect.Interface {
			dyn := reflect.ValueOf(sym).Elem().Elem()
			if !dyn.IsValid() {
				return nil, fmt.Errorf("%w: %s exports %s as a nil %s; assign it a value implementing sdk.Plugin", ErrType, path, sdk.SymbolName, t)
			}
			t = dyn.Type()
		}
	}
	return nil, fmt.Errorf("%w: %s exports %s of type %s, which does not implement sdk.Plugin: %s",
		ErrType, path, sdk.SymbolName, t, missingMethods(t))
}

// missingMethods describes how t (and *t) fall short of sdk.Plugin.
func missingMethods(t reflect.Type) string {
	var problems []string
	for i := range pluginType.NumMethod() {
		want := pluginType.Method(i)
		m, ok := t.MethodByName(want.Name)
		if !ok && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
			m, ok = reflect.PointerTo(t).MethodByName(want.Name)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("missing method %s%s", want.Name, strings.TrimPrefix(want.Type.String(), "func")))
			continue
		}
		got := m.Type
		if t.Kind() != reflect.Interface {
			got = dropReceiver(got)
		}
		if got.String() != want.Type.String() {
			problems = append(problems, fmt.Sprintf("method %s is %s, want %s", want.Name, got, want.Type))
		}
	}
	if len(problems) == 0 {
		return "its methods have the right names and types but come from a different build of their packages"
	}
	return strings.Join(problems, "; ")
}

// dropReceiver returns the type of a method value from the type of a
// method expression (whose first parameter is the receiver).
func dropReceiver(f reflect.Type) reflect.Type {
	in := make([]reflect.Type, 0, f.NumIn()-1)
	for i := 1; i < f.NumIn(); i++ {
		in = append(in, f.In(i))
	}
	out := make([]reflect.Type, f.NumOut())
	for i := range out {
		out[i] = f.Out(i)
	}
	return reflect.FuncOf(in, out, f.IsVariadic())
}
