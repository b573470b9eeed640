#compdef activeloop-credential-helper
# zsh completion for activeloop-credential-helper, generated from its command definitions.
autoload -U +X bashcompinit && bashcompinit
# bash completion for activeloop-credential-helper, generated from its command definitions.
_activeloop_credential_helper() {
  local cur=${COMP_WORDS[COMP_CWORD]} path= i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in -*) continue ;; esac
    case "${path:+$path }$w" in
      "doctor") path="doctor" ;;
      "erase") path="erase" ;;
      "exec") path="exec" ;;
      "get") path="get" ;;
      "git") path="git" ;;
      "import") path="import" ;;
      "list") path="list" ;;
      "lock") path="lock" ;;
      "login") path="login" ;;
      "logout") path="logout" ;;
      "register") path="register" ;;
      "setup") path="setup" ;;
      "setup docker") path="setup docker" ;;
      "setup git") path="setup git" ;;
      "status") path="status" ;;
      "store") path="store" ;;
      "token") path="token" ;;
      "version") path="version" ;;
    esac
  done
  case $path in
    "") w="store get erase list version login register logout doctor git import lock setup token status exec --backend --server --timeout --debug --help -h --version -v" ;;
    "doctor") w="--help" ;;
    "erase") w="--help" ;;
    "exec") w="--token --server --help" ;;
    "get") w="--help" ;;
    "git") w="--help" ;;
    "import") w="--remove --force --server --help" ;;
    "list") w="--help" ;;
    "lock") w="--all --help" ;;
    "login") w="--username -u --password -p --password-stdin --token -t --token-stdin --no-verify --server --help" ;;
    "logout") w="--all --server --help" ;;
    "register") w="--email -e --username -u --password -p --password-stdin --server --help" ;;
    "setup") w="docker git --undo --dry-run --bin-dir --force --server --help" ;;
    "setup docker") w="--undo --dry-run --bin-dir --force --server --help" ;;
    "setup git") w="--undo --dry-run --bin-dir --force --server --help" ;;
    "status") w="--token --server --help" ;;
    "store") w="--help" ;;
    "token") w="--token --server --help" ;;
    "version") w="--help" ;;
  esac
  COMPREPLY=($(compgen -W "$w" -- "$cur"))
}
complete -o default -F _activeloop_credential_helper activeloop-credential-helper
