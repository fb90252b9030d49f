"""``fastcidr completion bash|zsh``: a shell completion script (commands, resource types, flags,
and the names of the objects in the store, asked from ``fastcidr get`` as you type).

Load it with ``source <(fastcidr completion bash)`` (or ``zsh``); the zsh script runs the bash
function through zsh's ``bashcompinit``.
"""
from __future__ import annotations

import argparse
import sys

from ..k8s.resources import OBJECT_KINDS
from .kubectl_errors import CommandError

__all__ = ["bash_script", "zsh_script", "cmd_completion"]

COMMANDS = ("init", "get", "create", "apply", "delete", "describe", "label", "annotate", "top",
            "explain", "import", "completion", "version", "bench", "serve")
RESOURCES = tuple(name for res in OBJECT_KINDS for name in (res.plural, res.singular) + res.short_names)
FLAGS = {
    "get": "-o --output --no-headers -n --namespace -A --all-namespaces -l --selector --show-labels "
           "--sort-by -w --watch --watch-only --output-watch-events --store",
    "describe": "-n --namespace --store",
    "delete": "-f --filename -n --namespace --all --ignore-not-found --store",
    "label": "--overwrite --all -l --selector --list -o --output --dry-run --resource-version -n --namespace --store",
    "annotate": "--overwrite --all -l --selector --list -o --output --dry-run --resource-version -n --namespace --store",
    "apply": "-f --filename -n --namespace --store",
    "create": "-f --filename --store servicecidr service",
    "top": "--no-headers --store",
    "init": "--service-cluster-ip-range --store",
    "import": "-f --filename --store",
    "explain": "--recursive --api-version",
    "completion": "bash zsh",
}
OUTPUTS = "json yaml name wide jsonpath= custom-columns= custom-columns-file="

_BASH = r'''# fastcidr bash completion: source <(fastcidr completion bash)
__fastcidr_names() {
    local kind="$1" store_args=()
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        case "${COMP_WORDS[i]}" in
            --store) store_args=(--store "${COMP_WORDS[i+1]}") ;;
            --store=*) store_args=("${COMP_WORDS[i]}") ;;
        esac
    done
    "${COMP_WORDS[0]}" "${store_args[@]}" get "$kind" -A -o 'jsonpath={.items[*].metadata.name}' 2>/dev/null
}

_fastcidr() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local commands="@COMMANDS@"
    local resources="@RESOURCES@"
    local command="" kind="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --store) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z "$command" ]]; then command="${COMP_WORDS[i]}";
                elif [[ -z "$kind" ]]; then kind="${COMP_WORDS[i]}"; fi ;;
        esac
    done
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "$commands --store --version --help" -- "$cur"))
        return 0
    fi
    case "$prev" in
        -o|--output) COMPREPLY=($(compgen -W "@OUTPUTS@" -- "$cur")); return 0 ;;
        -f|--filename|--store|custom-columns-file) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    esac
    local flags
    case "$command" in
@FLAGS@
        *) flags="" ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return 0
    fi
    case "$command" in
        get|describe|delete|label|annotate|explain)
            if [[ -z "$kind" ]]; then
                COMPREPLY=($(compgen -W "$resources" -- "$cur"))
            elif [[ "$command" != explain ]]; then
                COMPREPLY=($(compgen -W "$(__fastcidr_names "$kind")" -- "$cur"))
            fi ;;
        top)
            if [[ -z "$kind" ]]; then COMPREPLY=($(compgen -W "servicecidr scidr" -- "$cur"));
            else COMPREPLY=($(compgen -W "$(__fastcidr_names servicecidr)" -- "$cur")); fi ;;
        *) COMPREPLY=($(compgen -W "$flags" -- "$cur")) ;;
    esac
    return 0
}
complete -o default -F _fastcidr fastcidr
'''

_ZSH_HEAD = '''#compdef fastcidr
# fastcidr zsh completion: source <(fastcidr completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
'''


def bash_script() -> str:
    flags = "\n".join(f'        {cmd}) flags="{words}" ;;' for cmd, words in FLAGS.items())
    return (_BASH.replace("@COMMANDS@", " ".join(COMMANDS)).replace("@RESOURCES@", " ".join(RESOURCES))
            .replace("@OUTPUTS@", OUTPUTS).replace("@FLAGS@", flags))


def zsh_script() -> str:
    return _ZSH_HEAD + bash_script()


def cmd_completion(args: argparse.Namespace) -> int:
    if args.shell == "bash":
        sys.stdout.write(bash_script())
    elif args.shell == "zsh":
        sys.stdout.write(zsh_script())
    else:
        raise CommandError(f'Unsupported shell type "{args.shell}".')
    return 0
