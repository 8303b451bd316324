/*
 * pooling-lab ABI shim over cmark-gfm's cmark_markdown_to_html().
 *
 * cmark_markdown_to_html(text, len, options) itself is exported unchanged and
 * returns a NUL-terminated string that the caller frees with free(). This file
 * adds the two other result conventions the lab's call plans drive:
 *
 *   render(ptr, len) -> i64
 *       (html_ptr << 32) | html_len ; 0 if rendering failed.
 *   render_out(ptr, len, out_len_ptr) -> ptr
 *       returns html_ptr and stores html_len as a little-endian u32 at out_len_ptr.
 *
 * Both render with CMARK_OPT_DEFAULT (CommonMark, no GFM extensions), and the
 * returned HTML is still NUL-terminated and owned by the caller (free() it).
 * Built by scripts/fetch-guests.sh --only cmark.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmark-gfm.h"

__attribute__((export_name("render")))
uint64_t render(const char *text, size_t len) {
  char *html = cmark_markdown_to_html(text, len, CMARK_OPT_DEFAULT);
  if (html == NULL) {
    return 0;
  }
  return ((uint64_t)(uintptr_t)html << 32) | (uint64_t)(uint32_t)strlen(html);
}

__attribute__((export_name("render_out")))
char *render_out(const char *text, size_t len, uint32_t *out_len) {
  char *html = cmark_markdown_to_html(text, len, CMARK_OPT_DEFAULT);
  *out_len = html == NULL ? 0 : (uint32_t)strlen(html);
  return html;
}
