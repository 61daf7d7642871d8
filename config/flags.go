package config

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// Names of the flags registered by AddFlags.
const (
	flagConfig = "config"
	flagSet    = "set"
	// flagAnnotation is the pflag annotation holding the key a flag sets.
	flagAnnotation = "tuskq.config/key"
)

// AddFlags registers the flags common to every binary on fs:
//
//	--config FILE       the YAML file (overrides TUSKQ_CONFIG)
//	--allow-readable-config  accept a config file with secrets that group or
//	                    others may read (also TUSKQ_ALLOW_READABLE_CONFIG=true)
//	--set key=value     any key, repeatable: --set worker.concurrency=50,
//	                    --set routes.email:*.queue=low
//	--redis-addr        redis.addr
//	--redis-mode        redis.mode
//	--log-level         log.level
//	--log-format        log.format
//
// Values of --set use the environment's forms: lists are comma-separated
// and queue maps are name=weight,name=weight. Flags override in the order
// dedicated flags, then each --set from left to right. Only flags given on
// the command line override; their empty defaults do not.
func AddFlags(fs *pflag.FlagSet) {
	fs.String(flagConfig, "", "YAML config `file` (default $TUSKQ_CONFIG)")
	fs.Bool(flagAllowReadable, false, "start even though the config file holds secrets and group or others may read it")
	fs.StringArray(flagSet, nil, "set any config `key=value`, e.g. worker.concurrency=50 or routes.email:*.queue=low (repeatable)")
	for _, b := range []struct{ name, key, usage string }{
		{"redis-addr", "redis.addr", "Redis `host:port` in standalone mode (redis.addr)"},
		{"redis-mode", "redis.mode", "Redis `mode`: standalone, sentinel or cluster (redis.mode)"},
		{"log-level", "log.level", "log `level`: debug, info, warn or error (log.level)"},
		{"log-format", "log.format", "log `format`: json or text (log.format)"},
	} {
		fs.String(b.name, "", b.usage)
		// Cannot fail: the flag was just defined and the key exists.
		_ = fs.SetAnnotation(b.name, flagAnnotation, []string{b.key})
	}
}

// BindFlag makes the flag flagName of fs, already defined, set the
// configuration key (a path such as "worker.concurrency", or
// "routes.<pattern>.<field>") when it is given on the command line. Any
// flag type works: its value is parsed like an environment variable. It
// returns an error matching ErrUnknownKey for an unknown key, or an error
// when fs has no such flag.
func BindFlag(fs *pflag.FlagSet, flagName, key string) error {
	s := newSchema()
	if _, _, ok := s.splitKey(key); !ok {
		return fmt.Errorf("config: bind --%s: %w %q (did you mean %q?)",
			flagName, ErrUnknownKey, key, closest(key, s.settableKeys(key)))
	}
	if err := fs.SetAnnotation(flagName, flagAnnotation, []string{key}); err != nil {
		return fmt.Errorf("config: bind --%s to %s: %w", flagName, key, err)
	}
	return nil
}

// flagLayer reads the bound flags, then --set, that were given.
func (s *schema) flagLayer(fs *pflag.FlagSet, p *problems) *layer {
	l := newLayer()
	var sets []string
	fs.Visit(func(f *pflag.Flag) {
		if f.Name == flagSet {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				sets = sv.GetSlice()
			}
			return
		}
		keys := f.Annotations[flagAnnotation]
		if len(keys) == 0 {
			return
		}
		source := "--" + f.Name
		parts, fld, ok := s.splitKey(keys[0])
		if !ok {
			p.unknown("%s is bound to unknown key %q", source, keys[0])
			return
		}
		raw := f.Value.String()
		if fld.kind == kindTokens {
			tokensFromString(source, keys[0], raw, l, p)
			return
		}
		if fld.kind == kindRecords {
			recordsFromString(source, fld, raw, l, p)
			return
		}
		if fld.kind == kindSchedules {
			schedulesFromString(source, raw, l, p)
			return
		}
		var v any
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			raw = strings.Join(sv.GetSlice(), ",")
			if fld.kind == kindStrings {
				v, ok = append([]string{}, sv.GetSlice()...), true
			} else {
				v, ok = parseString(fld.kind, raw)
			}
		} else {
			v, ok = parseString(fld.kind, raw)
		}
		if !ok {
			p.bad(source, keys[0], raw, expectedString(fld.kind), fld.secret)
			return
		}
		l.set(parts, v, source)
	})
	for _, item := range sets {
		key, value, ok := strings.Cut(item, "=")
		if !ok {
			p.errs = append(p.errs, fmt.Errorf("config: --set %q is not valid; expected key=value", item))
			continue
		}
		parts, fld, ok := s.splitKey(key)
		if !ok {
			p.unknown("--set: unknown key %q (did you mean %q?)", key, closest(key, s.settableKeys(key)))
			continue
		}
		if fld.kind == kindTokens {
			tokensFromString("--set", key, value, l, p)
			continue
		}
		if fld.kind == kindRecords {
			recordsFromString("--set", fld, value, l, p)
			continue
		}
		if fld.kind == kindSchedules {
			schedulesFromString("--set", value, l, p)
			continue
		}
		v, ok := parseString(fld.kind, value)
		if !ok {
			p.bad("--set", key, value, expectedString(fld.kind), fld.secret)
			continue
		}
		if len(parts) == 3 {
			l.sources[routesKey+"."+parts[1]] = "--set"
		}
		l.set(parts, v, "--set")
	}
	return l
}
