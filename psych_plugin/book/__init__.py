"""A psychology book -> candidate Alpaca rows, for `psych build-dataset`.

The book (plain text or Markdown) is split into chapters, sections and chunks of paragraphs.
Textbook apparatus (learning objectives, captions, feature boxes, review sections) is left out.
The whole book is planned first (one definition per term, the best the book gives; sibling
terms and numbered stages), then each chunk gets rule-based rows, precision first (definitions,
contrasted pairs, named studies and cases, named steps, theories' claims; see rules.py) and,
with --llm-url, rows from an OpenAI-compatible chat endpoint (one prompt per category, several
requests in flight). Every row is read by the critic (critic.py; LLM rows are also checked
against their passage) and must pass the schema; duplicates, near-duplicates and rows that
overlap the eval file are dropped. Each drop is counted by reason.

Progress lives in two sidecars next to OUT: OUT.partial (the rows so far, appended and fsynced
as chunks finish) and OUT.state.json (chunks done, the partial file's committed length, the
book's sha256). A run killed at any point resumes on the same command; OUT itself is only ever
written whole, atomically, at the end, with OUT.sources.jsonl beside it (each row's section,
passage and the critic's notes, line for line).

Modules, in the order a build uses them:
  reading      the book file -> chapters, sections, paragraphs and lists -> chunks
  text         Markdown inline formatting -> plain text; sentences; word sets
  definitions  defined terms and glossary entries -> "What is X?" rows
  rules        every rule-based row of a chunk (definitions, comparisons, studies, ...)
  critic       the checks every row passes before it is written; LLM rows' grounding
  llm          prompts, the chat-completions client, parsing replies into rows
  rows         a row as built here; the duplicate / eval-overlap filter
  state        the resume sidecars (OUT.partial, OUT.state.json)
  build        the whole run: chunks in order, progress callback, OUT written, a result
  sample       the review view: N random rows as a table (--sample, psych sample)
"""
