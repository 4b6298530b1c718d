#!/usr/bin/env python3
"""Checks that every command `.ci/run`, the benchmarks (bench/) and the tests run is either
part of a base Debian 12 system, built here, or installed by `.ci/run` (issue 26: two
commands on a bare machine). It lists the commands it finds with where they come from;
`--check` fails when one is unknown, or when its Debian package is not in `.ci/run`'s
`apt-get install` line.

How commands are found: in shell scripts, the first word of each simple command (line
starts, after `|`, `&&`, `||`, `;`, `$(`, `then`, `do`); in Rust tests, `Command::new("x")`;
in Python, the first element of a list given to subprocess. Shell functions the scripts
define, keywords and builtins are left out.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Command -> Debian package ("base": in every Debian 12 system, Priority required;
# "toolchain": the README's prerequisites; "here": built or shipped by this repository).
PACKAGES = {
    **{c: "base" for c in """apt-get awk bash cat cut date dirname env getconf grep head id kill ls
        mkdir mktemp nproc rm sed seq setsid sh sleep sort su tail tee timeout touch tr uniq wc
        xargs""".split()},
    **{c: "toolchain" for c in ["cargo", "rustup"]},
    **{c: "here" for c in ["tandem", "loadgen"]},
    "bc": "bc",
    "/usr/bin/time": "time",
    "python3": "python3",
    "ss": "iproute2",
    "ip": "iproute2",
    "ps": "procps",
    "pgrep": "procps",
    "curl": "curl",
    "sipp": "sip-tester",
    "baresip": "baresip",
    "chromedriver": "chromium-driver",
    "chromium": "chromium",
    "openssl": "openssl",
    "psql": "postgresql",
    "createuser": "postgresql",
    "createdb": "postgresql",
    "pg_ctlcluster": "postgresql",
    "tcpdump": "tcpdump",
    "fail2ban-regex": "fail2ban",
    "kamailio": "kamailio",
    "rtpengine": "rtpengine-daemon",
    "janus": "janus",
    "promtool": "prometheus",
}

# Words the line-based reading takes for commands (column titles in quoted headers, awk
# keywords); listed so that any other unknown word fails the check.
NOT_COMMANDS = {"END", "attempted", "i", "rate", "transport"}

SHELL_WORDS = set("""if then else elif fi for in do done while until case esac function local return
    set trap cd export shift exit source . [ [[ ]] { } read wait eval exec break continue unset
    declare readonly command printf echo true false test : ! time""".split())


def shell_functions(paths: list[pathlib.Path]) -> set[str]:
    """The functions the scripts define (bench/lib's are used by the others)."""
    names = set()
    for path in paths:
        names.update(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{", path.read_text(), re.M))
    return names


def shell_commands(path: pathlib.Path, functions: set[str]) -> set[str]:
    text = re.sub(r"(?m)^\s*#.*$", "", path.read_text())
    text = re.sub(r"(?m)\s#\s.*$", "", text)  # trailing comments (their apostrophes)
    text = re.sub(r"\$?\(\([^)]*\)\)", "0", text)  # arithmetic: $((a * b)), for ((i = 0; ...))
    # Quoted text (printf formats, awk programs, messages) names no command; a double-quoted
    # string keeps its command substitutions.
    text = re.sub(r"'[^']*'", "''", text)
    text = re.sub(r'"[^"$]*"', '""', text)
    text = re.sub(r"\\\n", " ", text)  # continued lines
    found = set()
    for line in text.splitlines():
        line = line.split(" #", 1)[0]
        for part in re.split(r"\|\||&&|\||;|\$\(|\bthen\b|\bdo\b|\belse\b", line):
            words = part.strip().lstrip("(").split()
            while words and "=" in words[0] and not words[0].startswith("="):
                words = words[1:]  # VAR=value command
            while len(words) > 1 and words[0].strip('"') in ("env", "timeout", "sudo", "$SUDO", "setsid", "exec"):
                words = words[1:]
                while words and (words[0].startswith("-") or "=" in words[0] or words[0][0].isdigit()):
                    words = words[2:] if words[0] == "-u" else words[1:]
            if not words:
                continue
            word = words[0].strip("\"'")
            if (not word or word in SHELL_WORDS or word in NOT_COMMANDS or word in functions or word[0] in "$-\"'<>)}#&0123456789"
                    or ("/" in word and not word.startswith("/usr/bin/")) or word.endswith((".sh", ".py", ".xml"))):
                continue
            if re.fullmatch(r"[A-Za-z0-9_./-]+", word):
                found.add(word)
    return found


def rust_commands(path: pathlib.Path) -> set[str]:
    return set(re.findall(r'Command::new\("([^"]+)"\)', path.read_text()))


def python_commands(path: pathlib.Path) -> set[str]:
    return set(re.findall(r'\[\s*"([A-Za-z0-9_./-]+)"\s*,', path.read_text())) & set(PACKAGES) | set(
        re.findall(r'subprocess\.\w+\(\s*\[\s*"([^"]+)"', path.read_text()))


def installed_by_ci() -> set[str]:
    text = (ROOT / ".ci/run").read_text().replace("\\\n", " ")
    packages = set()
    for line in re.findall(r"apt-get install[^\n]*", text):
        packages.update(w for w in line.split() if not w.startswith("-") and w not in ("apt-get", "install", "$SUDO", ">/dev/null"))
    return packages


def main() -> int:
    uses: dict[str, set[str]] = {}
    sources = [ROOT / ".ci/run", *sorted((ROOT / "bench").glob("**/*.sh"))]
    functions = shell_functions(sources)
    for path in sources:
        for c in shell_commands(path, functions):
            uses.setdefault(c, set()).add(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "crates").glob("*/tests/**/*.rs")):
        for c in rust_commands(path):
            uses.setdefault(c, set()).add(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "bench").glob("*.py")):
        for c in python_commands(path):
            uses.setdefault(c, set()).add(str(path.relative_to(ROOT)))
    ci = installed_by_ci()
    bad = []
    for command in sorted(uses):
        package = PACKAGES.get(command)
        where = ", ".join(sorted(uses[command])[:3])
        if package is None:
            bad.append(f"{command}: unknown to tools/commands.py (used in {where})")
            status = "UNKNOWN"
        elif package in ("base", "toolchain", "here") or package in ci:
            status = package if package in ("base", "toolchain", "here") else f"apt {package}"
        else:
            bad.append(f"{command}: Debian package {package} is not installed by .ci/run (used in {where})")
            status = f"MISSING {package}"
        print(f"{command:16} {status:22} {where}")
    for line in bad:
        print("commands:", line, file=sys.stderr)
    return 1 if bad and "--check" in sys.argv else 0


if __name__ == "__main__":
    sys.exit(main())
