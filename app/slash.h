/* slash.h: the slash commands, one table shared by the TUI and --no-tui.
 *
 *   /help                 the commands
 *   /save [NAME]          save the conversation (NAME in the transcripts directory;
 *                         without NAME: its current file)
 *   /load [NAME]          load a saved conversation; without NAME: list them
 *   /export NAME[.md]     write the branch on screen as Markdown
 *   /persona [NAME]       switch persona (a new conversation); without NAME: list them
 *   /clear                a new conversation, same persona
 *   /regen                generate the last reply again (replaces it: no branch)
 *   /edit [N] [TEXT]      fork at your last (or Nth) message with TEXT in its place; without
 *                         TEXT the front end puts "/edit N MESSAGE" in the input (fe.edit)
 *   /branches             list the branches (where each forks, its first words)
 *   /branch N             show branch N
 *   /undo                 remove the last exchange
 *   /copy [N|PATH]        the last reply, or its Nth fenced code block, to the
 *                         clipboard (OSC 52, app/clip.h); PATH (not a number): into
 *                         that file instead (written atomically)
 *   /system [TEXT]        replace the instruction for this conversation only (its
 *                         transcript keeps it; the persona file is untouched); without
 *                         TEXT: show the instruction in use
 *   /set [KEY VALUE]      temperature, top_k, top_p, min_p, repeat_penalty, seed,
 *                         max_tokens; without arguments: show them
 *   /stats                the last reply's figures, the context in use, the tokens
 *                         prefilled this session (what the kept KV cache saved is not counted)
 *   /quit                 leave (autosaving)
 *
 * Results and errors go to the chat's front end (chat_fe). This module sits
 * above app/chat.h, which knows nothing of it, and acts only through chat.h's
 * functions (the chat is opaque here): a front end hands each line to
 * slash_input, and asks slash_completions what a word completes to.
 */
#ifndef GC_SLASH_H
#define GC_SLASH_H

#include "app/chat.h"

/* What a command's argument completes to. */
typedef enum slash_arg {
    SLASH_ARG_NONE,
    SLASH_ARG_PERSONA,
    SLASH_ARG_TRANSCRIPT,
    SLASH_ARG_SETTING,
    SLASH_ARG_OTHER,
} slash_arg;

typedef struct slash_cmd {
    const char *name;           /* "/save" */
    const char *args;           /* "[NAME]", or NULL */
    const char *help;           /* one line */
    slash_arg arg;
    int (*run)(chat *c, const char *arg);   /* arg: the rest of the line, trimmed ("" if none) */
} slash_cmd;

/* The table, NULL-terminated. */
extern const slash_cmd slash_cmds[];
int slash_count(void);

/* The /set keys, NULL-terminated. */
extern const char *const slash_set_keys[];

/* The command named word[0..n) ("/save"), or NULL. */
const slash_cmd *slash_find(const char *word, size_t n);

/* What a line of input is. *text: for a command the line from its "/"; for
 * a message what to send (the line; "//text" sends "/text"); for a blank
 * line (spaces only, or nothing) the line. */
typedef enum slash_kind { SLASH_BLANK, SLASH_COMMAND, SLASH_MESSAGE } slash_kind;
slash_kind slash_parse(const char *line, const char **text);

/* One line of input (slash_parse): a slash command, or a message to answer
 * (chat_send). Problems are reported through the front end; returns 1 when
 * the chat is to end (/quit, a lost device), else 0. */
int slash_input(chat *c, const char *line);

/* Completion. slash_arg_words: the words command s's argument completes to
 * (persona names, transcript names, the /set keys; none for other commands;
 * with c NULL, only the /set keys). slash_completions: for the word starting
 * at byte start of line, the command names when it is the first word
 * (start 0; in the table's order), else slash_arg_words of the command the
 * line begins with (names sorted, the /set keys in their order). *out gets
 * n malloc'd strings (free with chat_free_names); 0, or -1 when a list
 * could not be read. */
int slash_arg_words(const chat *c, const slash_cmd *s, char ***out, int *n);
int slash_completions(const chat *c, const char *line, size_t start, char ***out, int *n);

/* Runs one command line ("/name args"). An unknown command or a failed one
 * is reported through the front end's error; returns 0 ok, -1 failed. */
int slash_run(chat *c, const char *line);

/* The TUI's branch keys: the previous (d < 0) or next sibling at the last
 * fork, shown with a notice. 0, or -1 reported through the front end. */
int slash_switch_sibling(chat *c, int d);

/* The help text (one command per line), malloc'd. */
char *slash_help_text(void);

#endif
