"""A pytest plugin for `make mutation`: import the heavy libraries once, in the process mutmut
forks every mutant from. The package imports them lazily inside functions (so `psych --help`
stays fast), which would otherwise cost each forked mutant 10-20 s of imports here."""

import axolotl.integrations.base  # noqa: F401
import axolotl.integrations.config  # noqa: F401
import axolotl.utils.config  # noqa: F401
import axolotl.utils.schemas.config  # noqa: F401
import peft  # noqa: F401
import transformers  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
