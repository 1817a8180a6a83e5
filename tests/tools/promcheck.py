#!/usr/bin/env python3
"""promcheck.py: a strict checker of the Prometheus text exposition format
0.0.4, in python3's standard library (no promtool on the CI machines).

  promcheck.py [--print] [FILE|-]...   check each input (stdin without one)
  promcheck.py --self-test             prove the checker refuses what it must

Checked, with the line number of the first fault:
  - UTF-8, lines end in \\n (no \\r), the input ends with a newline;
  - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
    and not reserved (__*), no label twice in one sample;
  - label values in double quotes with only \\\\, \\" and \\n escapes; HELP
    text with only \\\\ and \\n escapes;
  - "# HELP" and "# TYPE" at most once per family, both before the family's
    first sample, TYPE one of counter gauge histogram summary untyped;
  - every sample belongs to a family with HELP and TYPE (our rule: nothing
    undocumented), and a family's samples form one group;
  - counter families end in _total (our rule) and have values >= 0, not NaN;
    histogram and summary samples use their suffixes (_bucket with le,
    _sum, _count; quantile for summaries);
  - values are floats as Go's ParseFloat takes them (NaN, +Inf, -Inf too),
    an optional timestamp is an integer;
  - no series (name plus label set) appears twice.

--print writes every sample as `name{label="value",...} value` with labels
sorted, one per line, so that a shell test can grep for a series.
Exit status: 0 valid, 1 invalid (messages on stderr), 2 usage.
"""

import math
import re
import sys

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX][0-9a-fA-F]+)$")
SPECIAL = {"nan": math.nan, "+inf": math.inf, "inf": math.inf,
           "-inf": -math.inf}
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Invalid(Exception):
    pass


def parse_float(s, what):
    if s.lower() in SPECIAL and s in ("NaN", "+Inf", "-Inf", "Inf"):
        return SPECIAL[s.lower()]
    if not FLOAT_RE.match(s):
        raise Invalid("%s %r is not a float" % (what, s))
    try:
        return float.fromhex(s) if "x" in s.lower() else float(s)
    except ValueError:
        raise Invalid("%s %r is not a float" % (what, s))


def unescape(s, allowed, what):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise Invalid("bad escape in %s: %r" % (what, s[i:i + 2]))
            out.append({"\\": "\\", "n": "\n", '"': '"'}[s[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_labels(line, i):
    """line[i] == '{'; returns (labels dict, index after '}')"""
    labels = {}
    i += 1
    while True:
        while i < len(line) and line[i] == " ":
            i += 1
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        m = LABEL_RE.match(line, i)
        if not m:
            raise Invalid("bad label name at column %d" % (i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise Invalid("reserved label name %r" % name)
        if name in labels:
            raise Invalid("label %r twice in one sample" % name)
        i = m.end()
        if line[i:i + 2] != '="':
            raise Invalid("expected =\" after label %r" % name)
        i += 2
        start = i
        while True:
            if i >= len(line):
                raise Invalid("unterminated value of label %r" % name)
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                break
            i += 1
        labels[name] = unescape(line[start:i], '\\"n', "label value")
        i += 1
        while i < len(line) and line[i] == " ":
            i += 1
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        if i < len(line) and line[i] == "}":
            return labels, i + 1
        raise Invalid("expected , or } after label %r" % name)


def family_of(name, types):
    """the family a sample name belongs to, by the declared TYPEs"""
    if name in types and types[name] not in ("histogram", "summary"):
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            t = types.get(base)
            if t == "histogram" or (t == "summary" and suffix != "_bucket"):
                return base
    if name in types:       # a summary's quantile samples: the bare name
        return name
    return name


def check(text, out=None):
    """returns (families, samples); raises Invalid with a line number"""
    if not text:
        raise Invalid("line 1: empty exposition")
    if not text.endswith("\n"):
        raise Invalid("line %d: no newline at the end"
                      % (text.count("\n") + 1))
    helps, types, seen_family, series = {}, {}, set(), set()
    current = None
    nsamples = 0
    for no, line in enumerate(text[:-1].split("\n"), 1):
        try:
            if "\r" in line:
                raise Invalid("carriage return")
            if line.strip() == "":
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                    if len(parts) < 3 or not METRIC_RE.fullmatch(parts[2]):
                        raise Invalid("bad metric name in %s" % parts[1])
                    name = parts[2]
                    if name in seen_family:
                        raise Invalid("%s for %s after its samples"
                                      % (parts[1], name))
                    if parts[1] == "HELP":
                        if name in helps:
                            raise Invalid("second HELP for %s" % name)
                        helps[name] = unescape(
                            parts[3] if len(parts) > 3 else "", "\\n",
                            "HELP text")
                    else:
                        if name in types:
                            raise Invalid("second TYPE for %s" % name)
                        t = parts[3] if len(parts) > 3 else ""
                        if t not in TYPES:
                            raise Invalid("unknown TYPE %r for %s"
                                          % (t, name))
                        if t == "counter" and not name.endswith("_total"):
                            raise Invalid("counter %s does not end in _total"
                                          % name)
                        types[name] = t
                continue
            m = METRIC_RE.match(line)
            if not m:
                raise Invalid("bad metric name")
            name = m.group(0)
            i = m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Invalid("expected a space before the value")
            fields = rest.split()
            if len(fields) not in (1, 2):
                raise Invalid("expected a value and an optional timestamp")
            value = parse_float(fields[0], "value")
            if len(fields) == 2 and not re.fullmatch(r"-?[0-9]+", fields[1]):
                raise Invalid("timestamp %r is not an integer" % fields[1])
            fam = family_of(name, types)
            if fam not in types:
                raise Invalid("sample of %s before (or without) its TYPE"
                              % name)
            if fam not in helps:
                raise Invalid("sample of %s before (or without) its HELP"
                              % name)
            if fam != current:
                if fam in seen_family:
                    raise Invalid("samples of %s are not in one group" % fam)
                seen_family.add(fam)
                current = fam
            t = types[fam]
            if t == "counter":
                if math.isnan(value) or value < 0:
                    raise Invalid("counter %s has value %s"
                                  % (name, fields[0]))
            if t == "histogram":
                if name == fam:
                    raise Invalid("histogram sample %s without a suffix"
                                  % name)
                if name.endswith("_bucket") and "le" not in labels:
                    raise Invalid("bucket of %s without le" % fam)
            if t == "summary" and name == fam and "quantile" not in labels:
                raise Invalid("summary sample %s without quantile" % name)
            key = (name, tuple(sorted(labels.items())))
            if key in series:
                raise Invalid("duplicate series %s%s" % (name, fmt(labels)))
            series.add(key)
            nsamples += 1
            if out is not None:
                out.append("%s%s %s" % (name, fmt(labels), fields[0]))
        except Invalid as e:
            msg = str(e)
            raise Invalid(msg if msg.startswith("line ")
                          else "line %d: %s" % (no, msg))
    if nsamples == 0:
        raise Invalid("no samples")
    return len(seen_family), nsamples


def fmt(labels):
    if not labels:
        return ""
    return "{%s}" % ",".join(
        '%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"')
                     .replace("\n", "\\n"))
        for k, v in sorted(labels.items()))


GOOD = [
    '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n'
    'a_total{x="2"} 0\n',
    '# HELP g G with \\\\ and \\n.\n# TYPE g gauge\ng -1.5e3 1700000000000\n'
    'g{l="q\\"\\\\\\n"} NaN\n',
    '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\n'
    'h_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
]

BAD = [
    ("", "empty"),
    ("# HELP a_total A.\n# TYPE a_total counter\na_total 1", "no newline"),
    ("a_total 1\n", "no TYPE"),
    ("# TYPE a_total counter\na_total 1\n", "no HELP"),
    ("# HELP a A.\n# TYPE a counter\na 1\n", "counter without _total"),
    ("# HELP a_total A.\n# TYPE a_total counter\n# TYPE a_total counter\n"
     "a_total 1\n", "two TYPEs"),
    ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
     "# HELP a_total B.\n", "HELP after samples"),
    ("# HELP a_total A.\n# TYPE a_total counter\na_total -1\n",
     "negative counter"),
    ("# HELP g G.\n# TYPE g gauge\ng one\n", "value not a float"),
    ("# HELP g G.\n# TYPE g gauge\ng 1 1.5\n", "float timestamp"),
    ("# HELP g G.\n# TYPE g gauge\n1g 1\n", "bad metric name"),
    ("# HELP g G.\n# TYPE g gauge\ng{1x=\"a\"} 1\n", "bad label name"),
    ("# HELP g G.\n# TYPE g gauge\ng{__x=\"a\"} 1\n", "reserved label"),
    ("# HELP g G.\n# TYPE g gauge\ng{x=\"a\",x=\"b\"} 1\n", "label twice"),
    ("# HELP g G.\n# TYPE g gauge\ng{x=\"a\\t\"} 1\n", "bad escape"),
    ("# HELP g G.\n# TYPE g gauge\ng{x=\"a} 1\n", "unterminated value"),
    ("# HELP g G.\n# TYPE g gauge\ng{x=a} 1\n", "unquoted value"),
    ("# HELP g G.\n# TYPE g gauge\ng{x=\"a\"} 1\ng{x=\"a\"} 2\n",
     "duplicate series"),
    ("# HELP g G.\n# TYPE g gauge\ng 1\n# HELP h H.\n# TYPE h gauge\nh 1\n"
     "g{x=\"b\"} 1\n", "family not in one group"),
    ("# HELP g G.\n# TYPE g gaug\ng 1\n", "unknown type"),
    ("# HELP g G.\r\n# TYPE g gauge\ng 1\n", "carriage return"),
    ("# HELP g bad \\q.\n# TYPE g gauge\ng 1\n", "bad HELP escape"),
    ("# HELP g G.\n# TYPE g gauge\ng1\n", "no space before value"),
    ("# HELP h H.\n# TYPE h histogram\nh_bucket 1\n", "bucket without le"),
]


def self_test():
    failures = 0
    for text in GOOD:
        try:
            check(text)
        except Invalid as e:
            print("self-test: good input refused: %s\n%s" % (e, text))
            failures += 1
    for text, why in BAD:
        try:
            check(text)
        except Invalid:
            continue
        print("self-test: bad input (%s) accepted" % why)
        failures += 1
    print("promcheck self-test: %d good, %d bad, %d failures"
          % (len(GOOD), len(BAD), failures))
    return 1 if failures else 0


def main(argv):
    printing = False
    files = []
    for a in argv:
        if a == "--self-test":
            return self_test()
        if a == "--print":
            printing = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("--"):
            print("promcheck: unknown option %s" % a, file=sys.stderr)
            return 2
        else:
            files.append(a)
    rc = 0
    for f in files or ["-"]:
        name = "stdin" if f == "-" else f
        try:
            data = sys.stdin.buffer.read() if f == "-" \
                else open(f, "rb").read()
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            print("promcheck: %s: not UTF-8" % name, file=sys.stderr)
            rc = 1
            continue
        except OSError as e:
            print("promcheck: %s: %s" % (name, e), file=sys.stderr)
            rc = 1
            continue
        out = [] if printing else None
        try:
            fams, samples = check(text, out)
        except Invalid as e:
            print("promcheck: %s: %s" % (name, e), file=sys.stderr)
            rc = 1
            continue
        if printing:
            sys.stdout.write("".join(line + "\n" for line in out))
        print("promcheck: %s: OK, %d families, %d samples"
              % (name, fams, samples), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
