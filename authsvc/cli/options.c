/*
 * cli/options — the table-driven option parser every command uses: the command
 * line (getopt_long), the environment, the configuration file, the help and the
 * documentation table all come from one as_opt_t table (interface in options.h).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"

#define HELP_INDENT 30
#define HELP_WIDTH 118
#define MAX_FILE_SIZE (1024 * 1024)

/* the two helpers every command shares (cli.h) live here, with the parser that uses them */
int as_cli_usage(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "authsvc: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int as_cli_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i != sizeof(yes) / sizeof(yes[0]); ++i) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

static void store_int(void *field, size_t size, long v)
{
    switch (size) {
    case sizeof(int32_t):
        *(int32_t *)field = (int32_t)v;
        break;
    case sizeof(int64_t):
        *(int64_t *)field = (int64_t)v; /* long, size_t and uint64_t alike on LP64; the bounds keep v >= min */
        break;
    default:
        abort(); /* a defect of the table */
    }
}

int as_opt_set(const as_opt_t *opt, void *settings, const char *value, const char *source, int reset, char *err,
               size_t errlen)
{
    char *field = (char *)settings + opt->offset;
    long v;

    switch (opt->type) {
    case AS_OPT_FLAG: {
        int b = 1;
        if (value != NULL && parse_bool(value, &b) != 0) {
            snprintf(err, errlen, "%s: expected true or false: %s", source, value);
            return -1;
        }
        *(int *)field = b;
    } break;
    case AS_OPT_STRING:
        *(const char **)field = value;
        break;
    case AS_OPT_INT:
        if (as_cli_parse_int(value, opt->min, opt->max, &v) != 0) {
            snprintf(err, errlen, "%s: invalid number (%ld to %ld): %s", source, opt->min, opt->max, value);
            return -1;
        }
        store_int(field, opt->size, v);
        break;
    case AS_OPT_LIST: {
        const char ***items = (const char ***)field;
        size_t *count = (size_t *)((char *)settings + opt->count);
        if (reset)
            *count = 0;
        if (value[0] == '\0') {
            snprintf(err, errlen, "%s: empty value", source);
            return -1;
        }
        if (opt->max > 0 && *count >= (size_t)opt->max) {
            snprintf(err, errlen, "%s: at most %ld values", source, opt->max);
            return -1;
        }
        if ((*items = realloc(*items, (*count + 1) * sizeof(**items))) == NULL)
            abort();
        (*items)[(*count)++] = value;
    } break;
    case AS_OPT_FN:
        /* the function's message is the whole message: the commands' own wording, which names the option */
        if (opt->fn(settings, value, err, errlen) != 0)
            return -1;
        break;
    case AS_OPT_CHOICE: {
        size_t i, len = 0;
        for (i = 0; opt->choices[i] != NULL && strcmp(opt->choices[i], value) != 0; ++i)
            ;
        if (opt->choices[i] != NULL) {
            *(unsigned *)field |= 1u << i;
            break;
        }
        len = snprintf(err, errlen, "%s: expected ", source);
        for (i = 0; opt->choices[i] != NULL && len < errlen; ++i)
            len += snprintf(err + len, errlen - len, "%s%s", i != 0 ? " or " : "", opt->choices[i]);
        if (len < errlen)
            snprintf(err + len, errlen - len, ": %s", value);
        return -1;
    }
    }
    return 0;
}

int as_opt_defaults(const as_opt_t *opts, size_t num, void *settings, char *err, size_t errlen)
{
    for (size_t i = 0; i != num; ++i)
        if (opts[i].def != NULL && as_opt_set(opts + i, settings, opts[i].def, "default", 1, err, errlen) != 0)
            return -1;
    return 0;
}

void as_opt_copy(const as_opt_t *opt, void *dst, const void *src)
{
    switch (opt->type) {
    case AS_OPT_FLAG:
        memcpy((char *)dst + opt->offset, (const char *)src + opt->offset, sizeof(int));
        break;
    case AS_OPT_CHOICE:
        memcpy((char *)dst + opt->offset, (const char *)src + opt->offset, sizeof(unsigned));
        break;
    case AS_OPT_STRING:
        *(const char **)((char *)dst + opt->offset) = *(const char *const *)((const char *)src + opt->offset);
        break;
    case AS_OPT_INT:
        memcpy((char *)dst + opt->offset, (const char *)src + opt->offset, opt->size);
        break;
    case AS_OPT_LIST: {
        /* the destination's array is replaced: a higher source's list replaces a lower one's */
        const char ***d = (const char ***)((char *)dst + opt->offset);
        free(*d);
        *d = *(const char **const *)((const char *)src + opt->offset);
        *(size_t *)((char *)dst + opt->count) = *(const size_t *)((const char *)src + opt->count);
        *(const char ***)((char *)src + opt->offset) = NULL; /* moved */
        *(size_t *)((char *)src + opt->count) = 0;
    } break;
    case AS_OPT_FN:
        break; /* the function stored it where it keeps it */
    }
}

void as_opt_dispose(const as_opt_t *opts, size_t num, void *settings)
{
    for (size_t i = 0; i != num; ++i) {
        if (opts[i].type != AS_OPT_LIST)
            continue;
        const char ***items = (const char ***)((char *)settings + opts[i].offset);
        free(*items);
        *items = NULL;
        *(size_t *)((char *)settings + opts[i].count) = 0;
    }
}

int as_opt_parse_argv(const as_opt_t *opts, size_t num, const char *usage, int argc, char **argv, void *settings,
                      unsigned char *given, int *first)
{
    struct option *longopts = as_calloc(num + 2, sizeof(*longopts));
    char err[1024], source[80];
    int c, ret = -1, has_help = 0;
    size_t n = 0;

    for (size_t i = 0; i != num; ++i) {
        int bare = opts[i].type == AS_OPT_FLAG || (opts[i].type == AS_OPT_FN && (opts[i].flags & AS_OPT_NO_ARG));
        longopts[n++] = (struct option){opts[i].name, bare ? no_argument : required_argument, NULL, 256 + (int)i};
        has_help |= strcmp(opts[i].name, "help") == 0;
    }
    if (!has_help)
        longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            ret = 0;
            goto Exit;
        }
        if (c < 256 || (size_t)(c - 256) >= num) {
            ret = as_cli_usage(usage, "%s", "invalid option");
            goto Exit;
        }
        const as_opt_t *opt = opts + (c - 256);
        snprintf(source, sizeof(source), "--%s", opt->name);
        if (as_opt_set(opt, settings, opt->type == AS_OPT_FLAG ? NULL : optarg, source, 0, err, sizeof(err)) != 0) {
            ret = as_cli_usage(usage, "%s", err);
            goto Exit;
        }
        if (given != NULL)
            given[c - 256] = 1;
    }
    *first = optind;
Exit:
    free(longopts);
    return ret;
}

void as_opt_env_name(const as_opt_t *opt, char *out, size_t outlen)
{
    size_t len = snprintf(out, outlen, "AUTHSVC_%s", opt->name);
    for (size_t i = 0; i < len && i < outlen; ++i)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

int as_opt_apply_env(const as_opt_t *opts, size_t num, void *settings, char **text, char *err, size_t errlen)
{
    size_t size = 1, used = 0;
    char name[80];
    const char *value;

    /* the lists' items are cut out of copies of their variables, all in one buffer: *text */
    for (size_t i = 0; i != num; ++i) {
        as_opt_env_name(opts + i, name, sizeof(name));
        if (opts[i].type == AS_OPT_LIST && !(opts[i].flags & AS_OPT_NO_ENV) && (value = getenv(name)) != NULL)
            size += strlen(value) + 1;
    }
    *text = as_malloc(size);
    for (size_t i = 0; i != num; ++i) {
        if (opts[i].flags & AS_OPT_NO_ENV)
            continue;
        as_opt_env_name(opts + i, name, sizeof(name));
        if ((value = getenv(name)) == NULL || value[0] == '\0')
            continue;
        if (opts[i].type != AS_OPT_LIST) {
            if (as_opt_set(opts + i, settings, value, name, 1, err, errlen) != 0)
                return -1;
            continue;
        }
        /* a list: its items separated by commas or white space */
        char *copy = strcpy(*text + used, value), *save = NULL;
        int reset = 1;
        used += strlen(value) + 1;
        for (char *item = strtok_r(copy, ", \t\n", &save); item != NULL; item = strtok_r(NULL, ", \t\n", &save), reset = 0)
            if (as_opt_set(opts + i, settings, item, name, reset, err, errlen) != 0)
                return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    char *end;
    while (*s == ' ' || *s == '\t')
        ++s;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char *text;
    size_t len;

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    text = as_malloc(MAX_FILE_SIZE + 1);
    len = fread(text, 1, MAX_FILE_SIZE + 1, fp);
    if (ferror(fp) || len > MAX_FILE_SIZE) {
        snprintf(err, errlen, "%s: %s", path, ferror(fp) ? strerror(errno) : "larger than 1 MiB");
        fclose(fp);
        free(text);
        return NULL;
    }
    fclose(fp);
    text[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "%s: not a text file", path);
        free(text);
        return NULL;
    }
    return text;
}

int as_opt_apply_file(const as_opt_t *opts, size_t num, void *settings, const char *path, char **text, char *err,
                      size_t errlen)
{
    unsigned *seen_on = NULL;
    char *line, *next;
    unsigned lineno = 0;
    int ret = -1;

    if ((*text = read_file(path, err, errlen)) == NULL)
        return -1;
    seen_on = as_calloc(num, sizeof(*seen_on));
    for (line = *text; line != NULL; line = next) {
        char *eq, *name, *value, source[4200];
        const as_opt_t *opt = NULL;
        size_t i;

        ++lineno;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        line = trim(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if ((eq = strchr(line, '=')) == NULL) {
            snprintf(err, errlen, "%s:%u: expected name = value", path, lineno);
            goto Exit;
        }
        *eq = '\0';
        name = trim(line);
        value = trim(eq + 1);
        for (i = 0; i != num; ++i) {
            if (!(opts[i].flags & AS_OPT_NO_FILE) && strcmp(opts[i].name, name) == 0) {
                opt = opts + i;
                break;
            }
        }
        if (opt == NULL) {
            snprintf(err, errlen, "%s:%u: unknown setting %s", path, lineno, name);
            goto Exit;
        }
        if (seen_on[i] != 0 && opt->type != AS_OPT_LIST) {
            snprintf(err, errlen, "%s:%u: %s set again (first on line %u)", path, lineno, name, seen_on[i]);
            goto Exit;
        }
        snprintf(source, sizeof(source), "%s:%u: %s", path, lineno, name);
        if (as_opt_set(opt, settings, value, source, seen_on[i] == 0, err, errlen) != 0)
            goto Exit;
        if (seen_on[i] == 0)
            seen_on[i] = lineno;
    }
    ret = 0;
Exit:
    free(seen_on);
    return ret;
}

/** "--name ARG" as the help and the docs show it. */
static void option_text(const as_opt_t *opt, char *out, size_t outlen)
{
    if (opt->arg != NULL)
        snprintf(out, outlen, "--%s %s", opt->name, opt->arg);
    else
        snprintf(out, outlen, "--%s", opt->name);
}

/** The default as shown, or NULL. */
static const char *shown_default(const as_opt_t *opt)
{
    return opt->shown_def != NULL ? opt->shown_def : opt->def;
}

void as_opt_print_help(const as_opt_t *opts, size_t num, FILE *out)
{
    for (size_t i = 0; i != num; ++i) {
        const as_opt_t *opt = opts + i;
        char head[128], text[2048];
        const char *p;
        int col;

        if (opt->flags & AS_OPT_HIDDEN)
            continue;
        option_text(opt, head, sizeof(head));
        if (shown_default(opt) != NULL)
            snprintf(text, sizeof(text), "%s (default: %s)", opt->help, shown_default(opt));
        else
            snprintf(text, sizeof(text), "%s", opt->help);
        col = fprintf(out, "  %s", head);
        if (col > HELP_INDENT - 2) {
            fputc('\n', out);
            col = 0;
        }
        /* word-wrapped at HELP_WIDTH, continuation lines under the first */
        for (p = text; *p != '\0';) {
            size_t len = strlen(p), take = len;
            if (len > (size_t)(HELP_WIDTH - HELP_INDENT)) {
                take = HELP_WIDTH - HELP_INDENT;
                while (take > 0 && p[take] != ' ')
                    --take;
                if (take == 0)
                    take = strcspn(p, " ");
            }
            fprintf(out, "%*s%.*s\n", HELP_INDENT - col, "", (int)take, p);
            col = 0;
            p += take;
            while (*p == ' ')
                ++p;
        }
    }
}

/** Writes `s` with the characters Markdown tables treat specially escaped. */
static void print_cell(const char *s, FILE *out)
{
    for (; *s != '\0'; ++s) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void as_opt_print_markdown(const as_opt_t *opts, size_t num, FILE *out)
{
    fputs("| option | environment variable | default | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i != num; ++i) {
        const as_opt_t *opt = opts + i;
        char head[128], env[80];
        if (opt->flags & AS_OPT_HIDDEN)
            continue;
        option_text(opt, head, sizeof(head));
        as_opt_env_name(opt, env, sizeof(env));
        fprintf(out, "| `%s` | %s%s%s | ", head, (opt->flags & AS_OPT_NO_ENV) ? "" : "`",
                (opt->flags & AS_OPT_NO_ENV) ? "(command line only)" : env, (opt->flags & AS_OPT_NO_ENV) ? "" : "`");
        if (opt->shown_def != NULL)
            print_cell(opt->shown_def, out);
        else if (opt->def != NULL)
            fprintf(out, "`%s`", opt->def);
        else
            fputs("(none)", out);
        fputs(" | ", out);
        print_cell(opt->help, out);
        fputs(" |\n", out);
    }
}
