/* schemagen.c: the build-time tool that turns schemas/NAME.avsc into C (docs/architecture.md "Events and schemas").
 *
 *   barge-schemagen OUTDIR a.avsc b.avsc ...
 *
 * writes OUTDIR/schemas_gen.h and OUTDIR/schemas_gen.c. Every file holds one top-level named
 * record. A record carrying "barge_kind": "part" is a shared part (EventHeader, KeyValuePair,
 * ...); every other one is an event type and gets a value in `enum barge_ev_type` plus an
 * embedded, self-contained schema text in which every named type it uses, wherever defined, is
 * inlined at its first use and referenced by full name afterwards (as avro-tools idl does).
 * For an event whose field "body" is a union of records the header also gets an enum of the
 * branches, e.g. `enum barge_job_request_body { BARGE_JOB_REQUEST_SUBMIT_JOB, ... }`.
 *
 * Output is deterministic: files are taken in file-name order whatever the command line order.
 * Any error prints the file and the reason and exits 1 without writing anything. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct file {
  const char *path, *base;
  json_t *root;
  char *full_name, *short_name;
  int is_part;
};

/* A named type (record, enum, fixed, error) defined somewhere in the inputs. */
struct named {
  char *full_name, *ns;
  json_t *def; /* borrowed from its file's root */
  const char *path;
};

static struct file *files;
static size_t nfiles;
static struct named *names;
static size_t nnames, cap_names;

static void die(const char *path, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
static void die(const char *path, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "barge-schemagen: %s: ", path ? path : "error");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort();
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xmalloc(n), s, n);
}

static char *cat3(const char *a, const char *b, const char *c) {
  size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
  char *s = xmalloc(na + nb + nc + 1);
  memcpy(s, a, na);
  memcpy(s + na, b, nb);
  memcpy(s + na + nb, c, nc + 1);
  return s;
}

static const char *const primitives[] = {"null", "boolean", "int", "long", "float", "double",
                                         "bytes", "string"};

static int is_primitive(const char *s) {
  for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
    if (strcmp(s, primitives[i]) == 0) return 1;
  return 0;
}

static int is_named_kind(const char *t) {
  return strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
         strcmp(t, "fixed") == 0;
}

static int valid_name(const char *s) {
  if (!(isalpha((unsigned char)*s) || *s == '_')) return 0;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
  return 1;
}

/* Full name and namespace of a named definition given the enclosing namespace. */
static void def_names(const char *path, json_t *def, const char *enclosing_ns, char **full,
                      char **ns_out) {
  const char *name = json_string_value(json_object_get(def, "name"));
  if (!name || !*name) die(path, "a named type without a \"name\"");
  const char *dot = strrchr(name, '.');
  if (dot) {
    *full = xstrdup(name);
    *ns_out = xstrdup(name);
    (*ns_out)[dot - name] = 0;
    if (!valid_name(dot + 1)) die(path, "invalid name \"%s\"", name);
    return;
  }
  if (!valid_name(name)) die(path, "invalid name \"%s\"", name);
  json_t *nsj = json_object_get(def, "namespace");
  if (nsj && !json_is_string(nsj)) die(path, "\"namespace\" of %s is not a string", name);
  const char *ns = nsj ? json_string_value(nsj) : enclosing_ns;
  *ns_out = xstrdup(ns);
  *full = *ns ? cat3(ns, ".", name) : xstrdup(name);
}

static char *resolve_ref(const char *ref, const char *ns) {
  if (strchr(ref, '.') || !*ns) return xstrdup(ref);
  return cat3(ns, ".", ref);
}

static struct named *find_named(const char *full) {
  for (size_t i = 0; i < nnames; i++)
    if (strcmp(names[i].full_name, full) == 0) return &names[i];
  return NULL;
}

/* Pass 1: records every named type defined in a file (nested ones included). */
static void collect(const char *path, json_t *s, const char *ns) {
  if (json_is_array(s)) {
    size_t i;
    json_t *b;
    json_array_foreach(s, i, b) collect(path, b, ns);
    return;
  }
  if (!json_is_object(s)) return;
  json_t *type = json_object_get(s, "type");
  if (!json_is_string(type)) {
    if (!type) die(path, "a schema object without \"type\"");
    collect(path, type, ns);
    return;
  }
  const char *t = json_string_value(type);
  if (is_named_kind(t)) {
    char *full, *def_ns;
    def_names(path, s, ns, &full, &def_ns);
    struct named *old = find_named(full);
    if (old) {
      if (!json_equal(old->def, s))
        die(path, "type %s is also defined, differently, in %s", full, old->path);
    } else {
      if (nnames == cap_names) {
        cap_names = cap_names ? 2 * cap_names : 32;
        names = realloc(names, cap_names * sizeof *names);
        if (!names) abort();
      }
      names[nnames++] = (struct named){xstrdup(full), xstrdup(def_ns), s, path};
    }
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
      json_t *fields = json_object_get(s, "fields");
      if (!json_is_array(fields)) die(path, "record %s has no \"fields\" array", full);
      size_t i;
      json_t *f;
      json_array_foreach(fields, i, f) {
        if (!json_is_object(f) || !json_is_string(json_object_get(f, "name")))
          die(path, "record %s: field %zu has no name", full, i);
        json_t *ft = json_object_get(f, "type");
        if (!ft) die(path, "record %s: field %s has no type", full,
                     json_string_value(json_object_get(f, "name")));
        collect(path, ft, def_ns);
      }
    }
    free(full);
    free(def_ns);
    return;
  }
  if (strcmp(t, "array") == 0) {
    json_t *items = json_object_get(s, "items");
    if (!items) die(path, "array without \"items\"");
    collect(path, items, ns);
  } else if (strcmp(t, "map") == 0) {
    json_t *values = json_object_get(s, "values");
    if (!values) die(path, "map without \"values\"");
    collect(path, values, ns);
  }
}

/* Names already defined in the schema being generated. */
struct seen {
  char **v;
  size_t n, cap;
};

static int seen_has(const struct seen *sn, const char *full) {
  for (size_t i = 0; i < sn->n; i++)
    if (strcmp(sn->v[i], full) == 0) return 1;
  return 0;
}

static void seen_add(struct seen *sn, const char *full) {
  if (sn->n == sn->cap) {
    sn->cap = sn->cap ? 2 * sn->cap : 32;
    sn->v = realloc(sn->v, sn->cap * sizeof *sn->v);
    if (!sn->v) abort();
  }
  sn->v[sn->n++] = xstrdup(full);
}

static json_t *inline_schema(const char *path, json_t *s, const char *ns, struct seen *sn,
                             int depth);

/* A named definition, with its namespace made explicit so it reads the same wherever it lands. */
static json_t *inline_def(const char *path, json_t *s, const char *ns, struct seen *sn,
                          int depth) {
  char *full, *def_ns;
  def_names(path, s, ns, &full, &def_ns);
  if (seen_has(sn, full)) {
    json_t *ref = json_string(full);
    free(full);
    free(def_ns);
    return ref;
  }
  seen_add(sn, full);
  json_t *out = json_object();
  const char *key;
  json_t *val;
  const char *dot = strrchr(full, '.');
  json_object_foreach(s, key, val) {
    if (strcmp(key, "name") == 0) {
      json_object_set_new(out, "name", json_string(dot ? dot + 1 : full));
      if (*def_ns) json_object_set_new(out, "namespace", json_string(def_ns));
    } else if (strcmp(key, "namespace") == 0) {
      /* written next to "name" */
    } else if (strcmp(key, "fields") == 0) {
      json_t *fields = json_array();
      size_t i;
      json_t *f;
      json_array_foreach(val, i, f) {
        json_t *nf = json_object();
        const char *fk;
        json_t *fv;
        json_object_foreach(f, fk, fv) {
          if (strcmp(fk, "type") == 0)
            json_object_set_new(nf, "type", inline_schema(path, fv, def_ns, sn, depth + 1));
          else
            json_object_set(nf, fk, fv);
        }
        json_array_append_new(fields, nf);
      }
      json_object_set_new(out, "fields", fields);
    } else {
      json_object_set(out, key, val);
    }
  }
  free(full);
  free(def_ns);
  return out;
}

static json_t *inline_schema(const char *path, json_t *s, const char *ns, struct seen *sn,
                             int depth) {
  if (depth > 200) die(path, "schema nested too deeply");
  if (json_is_string(s)) {
    const char *ref = json_string_value(s);
    if (is_primitive(ref)) return json_incref(s);
    char *full = resolve_ref(ref, ns);
    json_t *out;
    if (seen_has(sn, full)) {
      out = json_string(full);
    } else {
      struct named *nd = find_named(full);
      if (!nd) {
        /* An unqualified name may also denote a type in the null namespace. */
        if (!strchr(ref, '.') && (nd = find_named(ref)) != NULL) {
          free(full);
          full = xstrdup(ref);
        }
      }
      if (!nd) die(path, "unknown type \"%s\" (looked for %s)", ref, full);
      out = seen_has(sn, full) ? json_string(full)
                               : inline_def(nd->path, nd->def, nd->ns, sn, depth + 1);
    }
    free(full);
    return out;
  }
  if (json_is_array(s)) {
    json_t *out = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(s, i, b) {
      json_array_append_new(out, inline_schema(path, b, ns, sn, depth + 1));
    }
    return out;
  }
  if (!json_is_object(s)) die(path, "a schema must be a string, an array or an object");
  json_t *type = json_object_get(s, "type");
  if (!json_is_string(type)) return inline_schema(path, type, ns, sn, depth + 1);
  const char *t = json_string_value(type);
  if (is_named_kind(t)) return inline_def(path, s, ns, sn, depth);
  if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
    const char *child = t[0] == 'a' ? "items" : "values";
    json_t *out = json_object();
    const char *key;
    json_t *val;
    json_object_foreach(s, key, val) {
      if (strcmp(key, child) == 0)
        json_object_set_new(out, key, inline_schema(path, val, ns, sn, depth + 1));
      else
        json_object_set(out, key, val);
    }
    return out;
  }
  if (is_primitive(t)) return json_incref(s);
  /* {"type": "barge.Foo"}: a reference written as an object. */
  return inline_schema(path, type, ns, sn, depth + 1);
}

/* "JobStateChange" -> "JOB_STATE_CHANGE"; "HTTPRequest" -> "HTTP_REQUEST". */
static char *upper_snake(const char *s) {
  size_t n = strlen(s);
  char *out = xmalloc(2 * n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i > 0 && isupper(c)) {
      unsigned char p = (unsigned char)s[i - 1];
      unsigned char nx = (unsigned char)s[i + 1];
      if (islower(p) || isdigit(p) || (isupper(p) && nx && islower(nx))) *o++ = '_';
    }
    *o++ = (char)toupper(c);
  }
  *o = 0;
  return out;
}

static char *lower(const char *s) {
  char *out = xstrdup(s);
  for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
  return out;
}

static void put_c_string(FILE *f, const char *s) {
  size_t col = 0;
  fputs("    \"", f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    /* Break lines after a comma where possible so the text stays readable. */
    if (col >= 150 || (col >= 80 && p[-1] == ',')) {
      fputs("\"\n    \"", f);
      col = 0;
    }
    if (*p == '"' || *p == '\\') {
      fputc('\\', f);
      fputc(*p, f);
      col += 2;
    } else if (*p < 0x20 || *p >= 0x7f) {
      /* Octal escapes always take three digits, so a following digit cannot extend them. */
      fprintf(f, "\\%03o", *p);
      col += 4;
    } else {
      fputc(*p, f);
      col++;
    }
  }
  fputc('"', f);
}

static int cmp_file(const void *a, const void *b) {
  const struct file *x = a, *y = b;
  int c = strcmp(x->base, y->base);
  return c ? c : strcmp(x->path, y->path);
}

/* The short name of a record branch of a union (inline definition or reference), or NULL. */
static char *record_branch_name(const struct file *fl, json_t *b) {
  char *full, *ns;
  if (json_is_string(b)) {
    const char *ref = json_string_value(b);
    if (is_primitive(ref)) return NULL;
    struct named *nd = find_named(ref); /* references in generated schemas are full names */
    if (!nd) die(fl->path, "unknown type \"%s\"", ref);
    b = nd->def;
    full = xstrdup(nd->full_name);
  } else {
    const char *t = json_string_value(json_object_get(b, "type"));
    if (!json_is_object(b) || !t || strcmp(t, "record") != 0) return NULL;
    def_names(fl->path, b, "", &full, &ns);
    free(ns);
  }
  const char *t = json_string_value(json_object_get(b, "type"));
  char *out = NULL;
  if (t && strcmp(t, "record") == 0) {
    const char *dot = strrchr(full, '.');
    out = xstrdup(dot ? dot + 1 : full);
  }
  free(full);
  return out;
}

/* The union of records in field "body" of an event, or NULL. Record branches only; a null
 * branch is allowed and left out of the enum. */
static json_t *body_union(const struct file *fl, json_t *gen) {
  json_t *fields = json_object_get(gen, "fields");
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f) {
    if (strcmp(json_string_value(json_object_get(f, "name")), "body") != 0) continue;
    json_t *u = json_object_get(f, "type");
    if (!json_is_array(u)) return NULL;
    size_t j, nrec = 0;
    json_t *b;
    json_array_foreach(u, j, b) {
      if (json_is_string(b) && strcmp(json_string_value(b), "null") == 0) continue;
      char *name = record_branch_name(fl, b);
      if (!name) return NULL;
      free(name);
      nrec++;
    }
    return nrec ? u : NULL;
  }
  return NULL;
}

/* The event types (top-level schemas that are not parts), each with its self-contained schema. */
struct events {
  size_t n;
  struct file **ev;
  json_t **gen;
  char **gen_text;
};

/* Reads and checks every schema file named on the command line into files[]. */
static void load_files(char **paths) {
  for (size_t i = 0; i < nfiles; i++) {
    struct file *fl = &files[i];
    fl->path = paths[i];
    const char *slash = strrchr(fl->path, '/');
    fl->base = slash ? slash + 1 : fl->path;
    json_error_t je;
    fl->root = json_load_file(fl->path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!fl->root) die(fl->path, "line %d: %s", je.line, je.text);
    const char *t = json_string_value(json_object_get(fl->root, "type"));
    if (!json_is_object(fl->root) || !t || strcmp(t, "record") != 0)
      die(fl->path, "the top level must be a record");
    char *ns;
    def_names(fl->path, fl->root, "", &fl->full_name, &ns);
    free(ns);
    const char *dot = strrchr(fl->full_name, '.');
    fl->short_name = xstrdup(dot ? dot + 1 : fl->full_name);
    json_t *kind = json_object_get(fl->root, "barge_kind");
    if (kind && !(json_is_string(kind) && strcmp(json_string_value(kind), "part") == 0))
      die(fl->path, "\"barge_kind\" must be \"part\" when present");
    fl->is_part = kind != NULL;
  }
}

static void build_events(struct events *e) {
  size_t nev = 0;
  for (size_t i = 0; i < nfiles; i++) nev += !files[i].is_part;
  json_t **gen = calloc(nev ? nev : 1, sizeof *gen);
  char **gen_text = calloc(nev ? nev : 1, sizeof *gen_text);
  struct file **ev = calloc(nev ? nev : 1, sizeof *ev);
  if (!gen || !gen_text || !ev) abort();
  size_t k = 0;
  for (size_t i = 0; i < nfiles; i++) {
    if (files[i].is_part) continue;
    for (size_t j = 0; j < k; j++)
      if (strcmp(ev[j]->short_name, files[i].short_name) == 0)
        die(files[i].path, "event type %s has the same short name as the one in %s",
            files[i].short_name, ev[j]->path);
    struct seen sn = {0};
    ev[k] = &files[i];
    gen[k] = inline_schema(files[i].path, files[i].root, "", &sn, 0);
    gen_text[k] = json_dumps(gen[k], JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!gen_text[k]) die(files[i].path, "cannot serialise the generated schema");
    for (size_t j = 0; j < sn.n; j++) free(sn.v[j]);
    free(sn.v);
    k++;
  }
  e->n = nev;
  e->ev = ev;
  e->gen = gen;
  e->gen_text = gen_text;
}

static void write_header(const struct events *e, const char *htmp) {
  size_t nev = e->n;
  struct file **ev = e->ev;
  json_t **gen = e->gen;
  FILE *h = fopen(htmp, "w");
  if (!h) die(htmp, "%s", strerror(errno));
  fprintf(h,
          "/* schemas_gen.h: generated by barge-schemagen from schemas/NAME.avsc; do not edit.\n"
          " * One enum value per event type (a top-level schema without \"barge_kind\": "
          "\"part\"). */\n"
          "#ifndef BARGE_SCHEMAS_GEN_H\n#define BARGE_SCHEMAS_GEN_H\n\n"
          "enum barge_ev_type {\n");
  for (size_t i = 0; i < nev; i++) {
    char *up = upper_snake(ev[i]->short_name);
    fprintf(h, "  BARGE_EV_%s,%*s/* %s */\n", up, (int)(28 > strlen(up) ? 28 - strlen(up) : 1),
            "", ev[i]->full_name);
    free(up);
  }
  fprintf(h, "  BARGE_EV__COUNT\n};\n\n"
             "/* The self-contained schema text (named types inlined) and the full name. */\n"
             "extern const char *const barge_schema_json[BARGE_EV__COUNT];\n"
             "extern const char *const barge_schema_name[BARGE_EV__COUNT];\n");
  for (size_t i = 0; i < nev; i++) {
    json_t *u = body_union(ev[i], gen[i]);
    if (!u) continue;
    char *up = upper_snake(ev[i]->short_name), *lo = lower(up);
    fprintf(h, "\n/* Branches of %s.body, in schema order. */\nenum barge_%s_body {\n",
            ev[i]->full_name, lo);
    size_t j;
    json_t *b;
    json_array_foreach(u, j, b) {
      char *name = record_branch_name(ev[i], b);
      if (!name) continue; /* null */
      char *bup = upper_snake(name);
      fprintf(h, "  BARGE_%s_%s,\n", up, bup);
      free(bup);
      free(name);
    }
    fprintf(h,
            "  BARGE_%s__COUNT\n};\n"
            "extern const char *const barge_%s_body_name[BARGE_%s__COUNT];\n",
            up, lo, up);
    free(up);
    free(lo);
  }
  fprintf(h, "\n#endif\n");
  if (fclose(h) != 0) die(htmp, "write failed");

}

static void write_source(const struct events *e, const char *ctmp) {
  size_t nev = e->n;
  struct file **ev = e->ev;
  json_t **gen = e->gen;
  char **gen_text = e->gen_text;
  FILE *c = fopen(ctmp, "w");
  if (!c) die(ctmp, "%s", strerror(errno));
  fprintf(c, "/* schemas_gen.c: generated by barge-schemagen from schemas/NAME.avsc; "
             "do not edit. */\n"
             "#include \"schemas_gen.h\"\n\n"
             "const char *const barge_schema_name[BARGE_EV__COUNT] = {\n");
  for (size_t i = 0; i < nev; i++) fprintf(c, "    \"%s\",\n", ev[i]->full_name);
  fprintf(c, "};\n\nconst char *const barge_schema_json[BARGE_EV__COUNT] = {\n");
  for (size_t i = 0; i < nev; i++) {
    fprintf(c, "    /* %s, from %s */\n", ev[i]->full_name, ev[i]->base);
    put_c_string(c, gen_text[i]);
    fputs(",\n", c);
  }
  fprintf(c, "};\n");
  for (size_t i = 0; i < nev; i++) {
    json_t *u = body_union(ev[i], gen[i]);
    if (!u) continue;
    char *up = upper_snake(ev[i]->short_name), *lo = lower(up);
    fprintf(c, "\nconst char *const barge_%s_body_name[BARGE_%s__COUNT] = {\n", lo, up);
    size_t j;
    json_t *b;
    json_array_foreach(u, j, b) {
      char *name = record_branch_name(ev[i], b);
      if (!name) continue;
      fprintf(c, "    \"%s\",\n", name);
      free(name);
    }
    fprintf(c, "};\n");
    free(up);
    free(lo);
  }
  if (fclose(c) != 0) die(ctmp, "write failed");
}

static void free_all(struct events *e) {
  size_t nev = e->n;
  json_t **gen = e->gen;
  char **gen_text = e->gen_text;
  for (size_t i = 0; i < nev; i++) {
    json_decref(gen[i]);
    free(gen_text[i]);
  }
  for (size_t i = 0; i < nfiles; i++) {
    json_decref(files[i].root);
    free(files[i].full_name);
    free(files[i].short_name);
  }
  for (size_t i = 0; i < nnames; i++) {
    free(names[i].full_name);
    free(names[i].ns);
  }
  free(names);
  free(files);
  free(e->gen);
  free(e->gen_text);
  free(e->ev);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: barge-schemagen OUTDIR schema.avsc...\n");
    return 1;
  }
  const char *outdir = argv[1];
  nfiles = (size_t)argc - 2;
  files = calloc(nfiles ? nfiles : 1, sizeof *files);
  if (!files) abort();
  load_files(argv + 2);
  qsort(files, nfiles, sizeof *files, cmp_file);
  for (size_t i = 0; i < nfiles; i++) collect(files[i].path, files[i].root, "");
  struct events e;
  build_events(&e);
  char *hpath = cat3(outdir, "/", "schemas_gen.h"), *cpath = cat3(outdir, "/", "schemas_gen.c");
  char *htmp = cat3(hpath, ".tmp", ""), *ctmp = cat3(cpath, ".tmp", "");
  write_header(&e, htmp);
  write_source(&e, ctmp);
  if (rename(htmp, hpath) != 0) die(hpath, "%s", strerror(errno));
  if (rename(ctmp, cpath) != 0) die(cpath, "%s", strerror(errno));
  free_all(&e);
  free(hpath);
  free(cpath);
  free(htmp);
  free(ctmp);
  return 0;
}
