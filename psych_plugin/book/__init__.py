"""A psychology book -> candidate Alpaca rows, for `psych build-dataset`.

The book (plain text or Markdown) is split into chapters, sections and chunks of paragraphs.
Each chunk gets rule-based rows (defined terms, glossary entries, one summarise/explain task per
substantial paragraph) and, with --llm-url, rows from an OpenAI-compatible chat endpoint (one
prompt per category). Every row passes the schema; duplicates, near-duplicates and rows that
overlap the eval file are dropped.

Progress lives in two sidecars next to OUT: OUT.partial (the rows so far, appended and fsynced
after each chunk) and OUT.state.json (chunks done, the partial file's committed length, the
book's sha256). A run killed at any point resumes on the same command; OUT itself is only ever
written whole, atomically, at the end.

Modules, in the order a build uses them:
  reading      the book file -> chapters, sections, paragraphs and lists -> chunks
  text         Markdown inline formatting -> plain text; sentences; word sets
  definitions  defined terms and glossary entries -> "What is X?" rows
  rules        every rule-based row of a chunk (definitions, summarise/explain tasks)
  llm          prompts, the chat-completions client, parsing replies into rows
  rows         a row as built here; the duplicate / eval-overlap filter
  state        the resume sidecars (OUT.partial, OUT.state.json)
  build        the whole run: chunks in order, progress bar, OUT written, summary table
"""
