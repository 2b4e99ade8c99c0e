package immich

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Errors.
var (
	ErrNoUploadLocation = errors.New("immich: upload location unknown")
	ErrDatabaseNotEmpty = errors.New("immich: target database is not empty")
	ErrNotImmich        = errors.New("immich: snapshot holds no Immich record")
	ErrSchema           = errors.New("immich: unrecognised database schema")
)

// Container paths Immich has used for UPLOAD_LOCATION, newest first, and the
// legacy relative form (relative to /usr/src/app).
const (
	ContainerMedia       = "/data"
	ContainerMediaLegacy = "/usr/src/app/upload"
	legacyRelative       = "upload/"
)

// Mount is a bind mount of the immich_server container.
type Mount struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	ReadOnly  bool   `json:"read_only,omitempty"`
}

// DBConfig says how to reach the database.
type DBConfig struct {
	Mode      string // "docker" (docker exec -i Container ...) or "direct" (local client, PG* env)
	Container string // postgres container (docker mode)
	User      string // DB_USERNAME (docker mode; direct mode uses PGUSER unless set)
	Name      string // DB_DATABASE_NAME (direct mode: PGDATABASE unless set)
}

// Config describes one Immich install.
type Config struct {
	ImmichDir       string // holds .env and the compose files ("" for Kubernetes / manual)
	UploadLocation  string // host path of UPLOAD_LOCATION
	ImmichVersion   string // IMMICH_VERSION from .env ("release", "v2.5.6"...), informative
	ServerContainer string
	// ServerURL is where the host reaches immich-server, from the compose
	// file's published port ("http://127.0.0.1:2283"; "" if none).
	ServerURL string
	DB        DBConfig
	External  []Mount  // external-library mounts (host folders outside UPLOAD_LOCATION)
	Files     []string // .env, compose files and other install files to back up
}

// DefaultConfig returns the defaults of Immich's example .env and compose file.
func DefaultConfig() Config {
	return Config{
		ServerContainer: "immich_server",
		DB:              DBConfig{Mode: "docker", Container: "immich_postgres", User: "postgres", Name: "immich"},
	}
}

// ParseEnv parses a docker-compose style .env file: KEY=VALUE lines,
// optional "export ", # comments, single or double quotes (double quotes
// understand \n, \t, \" and \\), inline " #" comments after unquoted
// values. Malformed lines are skipped. It never fails on content.
func ParseEnv(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 1 && v[0] == '\'':
			if i := strings.IndexByte(v[1:], '\''); i >= 0 {
				v = v[1 : 1+i]
			} else {
				v = v[1:]
			}
		case len(v) >= 1 && v[0] == '"':
			var sb strings.Builder
			i := 1
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
					switch v[i] {
					case 'n':
						sb.WriteByte('\n')
					case 't':
						sb.WriteByte('\t')
					default:
						sb.WriteByte(v[i])
					}
					continue
				}
				sb.WriteByte(v[i])
			}
			v = sb.String()
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		out[k] = v
	}
	return out
}

// Interpolate expands $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?err} and $$ the way docker compose does, looking names up in vars.
func Interpolate(s string, vars map[string]string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			sb.WriteByte(c)
			continue
		}
		n := s[i+1]
		switch {
		case n == '$':
			sb.WriteByte('$')
			i++
		case n == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				sb.WriteString(s[i:])
				return sb.String()
			}
			expr := s[i+2 : i+2+end]
			i += 2 + end
			name, def, mode := expr, "", ""
			for _, op := range []string{":-", ":?", "-", "?", ":+", "+"} {
				if j := strings.Index(expr, op); j > 0 {
					name, def, mode = expr[:j], expr[j+len(op):], op
					break
				}
			}
			v, set := vars[name]
			switch mode {
			case ":-":
				if v == "" {
					v = def
				}
			case "-":
				if !set {
					v = def
				}
			case ":+":
				if v != "" {
					v = def
				}
			case "+":
				if set {
					v = def
				}
			}
			sb.WriteString(v)
		case n == '_' || n >= 'A' && n <= 'Z' || n >= 'a' && n <= 'z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			sb.WriteString(vars[s[i+1:j]])
			i = j - 1
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// composeFile is the part of a compose file we read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	ContainerName string      `yaml:"container_name"`
	Image         string      `yaml:"image"`
	Volumes       []yaml.Node `yaml:"volumes"`
	Ports         []yaml.Node `yaml:"ports"`
}

// ComposeInfo is what a compose file says about Immich.
type ComposeInfo struct {
	ServerContainer string
	ServerURL       string // from the published port of container port IMMICH_PORT (2283)
	DBContainer     string
	Mounts          []Mount // immich-server bind mounts, host paths interpolated and absolute
}

// ParseCompose reads the immich-server and database services of a compose
// file. Host paths are interpolated with vars and made absolute relative to
// dir. It fails only on YAML it cannot parse.
func ParseCompose(b []byte, vars map[string]string, dir string) (*ComposeInfo, error) {
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		return nil, fmt.Errorf("parse compose file: %w", err)
	}
	info := &ComposeInfo{}
	names := make([]string, 0, len(cf.Services))
	for n := range cf.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := cf.Services[name]
		cn := Interpolate(s.ContainerName, vars)
		isServer := name == "immich-server" || cn == "immich_server"
		isDB := name == "database" || cn == "immich_postgres" || strings.Contains(s.Image, "postgres")
		switch {
		case isServer:
			info.ServerContainer = cn
			info.ServerURL = serverURL(s.Ports, vars)
			for i := range s.Volumes {
				if m, ok := parseVolume(&s.Volumes[i], vars, dir); ok {
					info.Mounts = append(info.Mounts, m)
				}
			}
		case isDB && info.DBContainer == "":
			info.DBContainer = cn
		}
	}
	return info, nil
}

// serverURL returns the host URL of immich-server's published port:
// short ("[ip:]host:container[/tcp]") or long ({target, published,
// host_ip}) syntax; the container port is IMMICH_PORT or 2283.
func serverURL(ports []yaml.Node, vars map[string]string) string {
	want := vars["IMMICH_PORT"]
	if want == "" {
		want = "2283"
	}
	for i := range ports {
		n := &ports[i]
		var ip, host, target string
		switch n.Kind {
		case yaml.ScalarNode:
			v := strings.TrimSuffix(Interpolate(n.Value, vars), "/tcp")
			parts := strings.Split(v, ":")
			switch len(parts) {
			case 2:
				host, target = parts[0], parts[1]
			case 3:
				ip, host, target = parts[0], parts[1], parts[2]
			default:
				continue
			}
		case yaml.MappingNode:
			var lp struct {
				Target    string `yaml:"target"`
				Published string `yaml:"published"`
				HostIP    string `yaml:"host_ip"`
			}
			if n.Decode(&lp) != nil {
				continue
			}
			ip, host, target = Interpolate(lp.HostIP, vars), Interpolate(lp.Published, vars), Interpolate(lp.Target, vars)
		default:
			continue
		}
		if target != want || host == "" || strings.Contains(host, "-") {
			continue
		}
		if ip == "" || ip == "0.0.0.0" || ip == "::" || ip == "[::]" {
			ip = "127.0.0.1"
		}
		return "http://" + ip + ":" + host
	}
	return ""
}

// parseVolume reads a short ("src:dst[:ro]") or long ({type: bind, source,
// target, read_only}) volume; named volumes and non-paths are skipped.
func parseVolume(n *yaml.Node, vars map[string]string, dir string) (Mount, bool) {
	var m Mount
	switch n.Kind {
	case yaml.ScalarNode:
		parts := strings.Split(Interpolate(n.Value, vars), ":")
		if len(parts) < 2 {
			return m, false
		}
		m.Host, m.Container = parts[0], parts[1]
		if len(parts) > 2 {
			for _, o := range strings.Split(parts[2], ",") {
				if o == "ro" {
					m.ReadOnly = true
				}
			}
		}
	case yaml.MappingNode:
		var lv struct {
			Type     string `yaml:"type"`
			Source   string `yaml:"source"`
			Target   string `yaml:"target"`
			ReadOnly bool   `yaml:"read_only"`
		}
		if err := n.Decode(&lv); err != nil || (lv.Type != "" && lv.Type != "bind") {
			return m, false
		}
		m = Mount{Host: Interpolate(lv.Source, vars), Container: Interpolate(lv.Target, vars), ReadOnly: lv.ReadOnly}
	default:
		return m, false
	}
	if m.Host == "" || m.Container == "" || !strings.HasPrefix(m.Container, "/") {
		return m, false
	}
	if !strings.HasPrefix(m.Host, "/") {
		if !strings.HasPrefix(m.Host, ".") && !strings.HasPrefix(m.Host, "~") {
			return m, false // a named volume
		}
		if strings.HasPrefix(m.Host, "~") {
			home, _ := os.UserHomeDir()
			m.Host = home + m.Host[1:]
		} else {
			m.Host = filepath.Join(dir, m.Host)
		}
	}
	m.Host = filepath.Clean(m.Host)
	m.Container = path.Clean(m.Container)
	return m, true
}

// composeNames are the compose file names docker compose looks for.
var composeNames = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

// systemMounts are container targets that are not user data.
var systemMounts = map[string]bool{"/etc/localtime": true, "/etc/timezone": true, "/var/run/docker.sock": true}

// LoadInstall reads dir/.env and dir's compose file. Variables from .env are
// used for interpolation, overridden by the process environment as docker
// compose does. Every *.yml/*.yaml beside them (hwaccel files...) and .env
// are listed in Files.
func LoadInstall(dir string) (Config, error) {
	c := DefaultConfig()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return c, err
	}
	c.ImmichDir = abs
	envPath := filepath.Join(abs, ".env")
	envb, err := os.ReadFile(envPath)
	if err != nil {
		return c, fmt.Errorf("read Immich .env: %w", err)
	}
	vars := ParseEnv(envb)
	for k := range vars {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	c.Files = append(c.Files, envPath)
	if v := vars["DB_USERNAME"]; v != "" {
		c.DB.User = v
	}
	if v := vars["DB_DATABASE_NAME"]; v != "" {
		c.DB.Name = v
	}
	c.ImmichVersion = vars["IMMICH_VERSION"]
	if v := vars["UPLOAD_LOCATION"]; v != "" {
		if !filepath.IsAbs(v) {
			v = filepath.Join(abs, v)
		}
		c.UploadLocation = filepath.Clean(v)
	}
	var composePath string
	for _, n := range composeNames {
		if _, err := os.Stat(filepath.Join(abs, n)); err == nil {
			composePath = filepath.Join(abs, n)
			break
		}
	}
	entries, _ := os.ReadDir(abs)
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml")) {
			c.Files = append(c.Files, filepath.Join(abs, n))
		}
	}
	if composePath == "" {
		return c, fmt.Errorf("no compose file (%s) in %s", strings.Join(composeNames, ", "), abs)
	}
	cb, err := os.ReadFile(composePath)
	if err != nil {
		return c, fmt.Errorf("read compose file: %w", err)
	}
	info, err := ParseCompose(cb, vars, abs)
	if err != nil {
		return c, err
	}
	if info.ServerContainer != "" {
		c.ServerContainer = info.ServerContainer
	}
	c.ServerURL = info.ServerURL
	if info.DBContainer != "" {
		c.DB.Container = info.DBContainer
	}
	for _, m := range info.Mounts {
		switch {
		case m.Container == ContainerMedia || m.Container == ContainerMediaLegacy:
			if c.UploadLocation == "" {
				c.UploadLocation = m.Host
			}
		case systemMounts[m.Container]:
		default:
			c.External = append(c.External, m)
		}
	}
	return c, nil
}

// HostPath maps a path stored in the database (container path, or legacy
// path relative to /usr/src/app) to the host. ok is false for a path outside
// every known mount.
func (c *Config) HostPath(p string) (string, bool) {
	if c.UploadLocation != "" {
		for _, pre := range []string{ContainerMedia + "/", ContainerMediaLegacy + "/", legacyRelative} {
			if strings.HasPrefix(p, pre) {
				return filepath.Join(c.UploadLocation, filepath.FromSlash(p[len(pre):])), true
			}
		}
	}
	best := -1
	for i, m := range c.External {
		if (p == m.Container || strings.HasPrefix(p, strings.TrimSuffix(m.Container, "/")+"/")) &&
			(best < 0 || len(m.Container) > len(c.External[best].Container)) {
			best = i
		}
	}
	if best >= 0 {
		m := c.External[best]
		return filepath.Join(m.Host, filepath.FromSlash(strings.TrimPrefix(p, m.Container))), true
	}
	return "", false
}
