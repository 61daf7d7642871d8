package config

// Key describes one configuration key that can be set from the environment.
type Key struct {
	// Path is the dotted key, as in a file or --set: "redis.addr".
	Path string
	// Env is its environment variable: "TUSKQ_REDIS_ADDR".
	Env string
	// Secret keys hold a secret, or records with a secret field
	// (monitor.auth.users, monitor.auth.tokens): Write masks the secret and
	// error messages mask the whole value.
	Secret bool
}

// Keys lists every key except the routes (which come from a file or
// --set), in the order of the Config struct. Tools and tests use it to
// check that deployment files name only real keys.
func Keys() []Key {
	s := newSchema()
	keys := make([]Key, 0, len(s.envNames))
	for _, name := range s.envNames {
		f := s.byPath[s.env[name]]
		keys = append(keys, Key{Path: f.path, Env: name, Secret: f.sensitive()})
	}
	return keys
}
