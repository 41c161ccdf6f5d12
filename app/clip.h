/* clip.h: /copy: a reply, or one of its fenced code blocks, to the
 * terminal's clipboard through OSC 52, or into a file.
 *
 * OSC 52 is `ESC ] 52 ; c ; BASE64 BEL`: the terminal (xterm, kitty,
 * WezTerm, iTerm2, foot, Windows Terminal ...) puts the decoded text on the
 * clipboard, also over SSH, since it is the local terminal that acts. Inside
 * tmux ($TMUX set) the sequence is wrapped in tmux's passthrough,
 * `ESC P tmux; ... ESC \` with every ESC of the sequence doubled, so it
 * reaches the outer terminal whatever tmux's set-clipboard is (tmux >= 3.3
 * also needs `allow-passthrough on`; with `set-clipboard on`, tmux reads the
 * unwrapped sequence itself: either works, the wrap needs no clipboard
 * setting). The sequence goes to /dev/tty when there is one, else stdout.
 */
#ifndef GC_CLIP_H
#define GC_CLIP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* The text of fenced code block `n` (1 = the first) of text: the lines
 * between an opening line of ``` or ~~~ (with an optional info string) and
 * the closing fence of the same kind (or the end of text), without a final
 * line break. Returns 0 with a malloc'd *out, or -1 with err saying how many
 * blocks there are. */
int clip_code_block(const char *text, int n, char **out, gc_err *err);
/* How many fenced code blocks text holds. */
int clip_count_blocks(const char *text);

/* The OSC 52 sequence that copies text[len] (malloc'd, *out_n bytes), wrapped
 * for tmux's passthrough when tmux is true. */
int clip_osc52(const char *text, size_t len, bool tmux, char **out, size_t *out_n, gc_err *err);
/* Writes clip_osc52 of text to the terminal (/dev/tty, else stdout), wrapped
 * when $TMUX is set. */
int clip_to_terminal(const char *text, size_t len, gc_err *err);

#endif
