#!/usr/bin/env bash
# Deploy the Durable Orders Function App with the plain Azure CLI (no azd, no Bicep).
#
# Creates -- or, on a re-run, finds and keeps -- a resource group, a key-less storage account,
# a Log Analytics workspace + Application Insights, a user-assigned managed identity with the
# storage roles the Functions host and Durable Functions need, and a Flex Consumption
# Function App (Linux, Python 3.11, Functions v4) that reaches storage through that identity.
# Then it sets the app settings and deploys the code with a remote build.
# Every resource is looked up with `az ... show` before it is created, so a re-run is safe.
#
# Run ./scripts/deploy.sh --help for the parameters. docs/DEPLOY.md has the walkthrough.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"

# Built-in role definition IDs (identical in every tenant).
ROLE_STORAGE_BLOB_DATA_OWNER="b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
ROLE_STORAGE_QUEUE_DATA_CONTRIBUTOR="974c5e8b-45b9-4653-ba55-5f855dd0fb88"
ROLE_STORAGE_TABLE_DATA_CONTRIBUTOR="0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
ROLE_MONITORING_METRICS_PUBLISHER="3913510d-42f4-4e42-8a64-420c390055eb"

# Defaults: environment variables first, then built-in values.
RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-rg-durable-orders}"
LOCATION="${AZURE_LOCATION:-}"
SUBSCRIPTION="${AZURE_SUBSCRIPTION_ID:-}"
APP_NAME="${FUNCTION_APP_NAME:-}"
STORAGE_ACCOUNT="${STORAGE_ACCOUNT_NAME:-}"
IDENTITY_NAME=""
APP_INSIGHTS_NAME=""
WORKSPACE_NAME=""
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
INSTANCE_MEMORY="${INSTANCE_MEMORY_MB:-2048}"
MAX_INSTANCES="${MAXIMUM_INSTANCE_COUNT:-100}"
TASK_HUB="${TASK_HUB_NAME:-DurableOrdersHub}"
APPROVAL_THRESHOLD="${APPROVAL_THRESHOLD_CENTS:-100000}"
APPROVAL_TIMEOUT="${APPROVAL_TIMEOUT_HOURS:-72}"
PAYMENT="${PAYMENT_ADAPTER:-sandbox}"
CARRIER="${CARRIER_ADAPTER:-sandbox}"
NOTIFICATION="${NOTIFICATION_ADAPTER:-outbox}"
SANDBOX_DIR="${SANDBOX_DATA_DIR:-/tmp/durable-orders-sandbox}"
PUBLISH_METHOD="${PUBLISH_METHOD:-auto}"
PACKAGE_ZIP=""
SKIP_INFRA=0
SKIP_CODE=0
PYTHON_BIN="${PYTHON:-python3}"

usage() {
  cat <<EOF
Usage: scripts/deploy.sh --location REGION [options]

Deploys the Durable Orders Function App to a Flex Consumption plan with the Azure CLI.
Needs: az (logged in: az login), python3 (to build the zip). Idempotent: re-running it
keeps existing resources and only updates settings and code.

Azure resources (names are derived from the subscription and resource group if omitted):
  -g, --resource-group NAME   resource group            [\$AZURE_RESOURCE_GROUP, default: rg-durable-orders]
  -l, --location REGION       region with Flex Consumption (az functionapp list-flexconsumption-locations)
                                                        [\$AZURE_LOCATION, required unless the group exists]
  -s, --subscription ID       subscription to use       [\$AZURE_SUBSCRIPTION_ID, default: az's current one]
  -n, --name NAME             function app name, globally unique
                                                        [\$FUNCTION_APP_NAME, default: func-orders-<token>]
      --storage-account NAME  storage account (3-24 lowercase letters/digits)
                                                        [\$STORAGE_ACCOUNT_NAME, default: storders<token>]
      --identity NAME         user-assigned managed identity     [default: id-<app name>]
      --app-insights NAME     Application Insights component     [default: appi-<app name>]
      --workspace NAME        Log Analytics workspace            [default: log-<app name>]
      --python-version VER    Python runtime version             [\$PYTHON_VERSION, default: 3.11]
      --instance-memory MB    Flex instance memory (512|2048|4096) [\$INSTANCE_MEMORY_MB, default: 2048]
      --max-instances N       Flex maximum instance count        [\$MAXIMUM_INSTANCE_COUNT, default: 100]

App settings the app reads:
      --task-hub NAME               TASK_HUB_NAME             [\$TASK_HUB_NAME, default: DurableOrdersHub]
      --approval-threshold CENTS    APPROVAL_THRESHOLD_CENTS  [\$APPROVAL_THRESHOLD_CENTS, default: 100000]
      --approval-timeout HOURS      APPROVAL_TIMEOUT_HOURS    [\$APPROVAL_TIMEOUT_HOURS, default: 72]
      --payment-adapter NAME        PAYMENT_ADAPTER           [\$PAYMENT_ADAPTER, default: sandbox]
      --carrier-adapter NAME        CARRIER_ADAPTER           [\$CARRIER_ADAPTER, default: sandbox]
      --notification-adapter NAME   NOTIFICATION_ADAPTER      [\$NOTIFICATION_ADAPTER, default: outbox]
      --sandbox-data-dir DIR        SANDBOX_DATA_DIR          [\$SANDBOX_DATA_DIR, default: /tmp/durable-orders-sandbox]

Code deployment:
      --publish-method M      auto | zip | func: zip = scripts/package.py + az functionapp deployment
                              source config-zip --build-remote true; func = func azure functionapp
                              publish (Core Tools); auto = func if installed, else zip
                                                        [\$PUBLISH_METHOD, default: auto]
      --package ZIP           deploy this zip instead of building dist/app.zip (implies zip)
      --skip-infra            only deploy code (the function app must exist)
      --skip-code             only create/update resources and settings
  -h, --help                  print this help and exit

Example:
  az login
  scripts/deploy.sh --location swedencentral --resource-group rg-orders --name func-orders-demo
EOF
}

die() {
  echo "deploy.sh: error: $*" >&2
  exit 1
}

log() {
  echo "==> $*" >&2
}

need_value() {
  # $1 option, $2 number of remaining args (including the option)
  [[ "$2" -ge 2 ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    -g | --resource-group) need_value "$1" $#; RESOURCE_GROUP="$2"; shift 2 ;;
    -l | --location) need_value "$1" $#; LOCATION="$2"; shift 2 ;;
    -s | --subscription) need_value "$1" $#; SUBSCRIPTION="$2"; shift 2 ;;
    -n | --name) need_value "$1" $#; APP_NAME="$2"; shift 2 ;;
    --storage-account) need_value "$1" $#; STORAGE_ACCOUNT="$2"; shift 2 ;;
    --identity) need_value "$1" $#; IDENTITY_NAME="$2"; shift 2 ;;
    --app-insights) need_value "$1" $#; APP_INSIGHTS_NAME="$2"; shift 2 ;;
    --workspace) need_value "$1" $#; WORKSPACE_NAME="$2"; shift 2 ;;
    --python-version) need_value "$1" $#; PYTHON_VERSION="$2"; shift 2 ;;
    --instance-memory) need_value "$1" $#; INSTANCE_MEMORY="$2"; shift 2 ;;
    --max-instances) need_value "$1" $#; MAX_INSTANCES="$2"; shift 2 ;;
    --task-hub) need_value "$1" $#; TASK_HUB="$2"; shift 2 ;;
    --approval-threshold) need_value "$1" $#; APPROVAL_THRESHOLD="$2"; shift 2 ;;
    --approval-timeout) need_value "$1" $#; APPROVAL_TIMEOUT="$2"; shift 2 ;;
    --payment-adapter) need_value "$1" $#; PAYMENT="$2"; shift 2 ;;
    --carrier-adapter) need_value "$1" $#; CARRIER="$2"; shift 2 ;;
    --notification-adapter) need_value "$1" $#; NOTIFICATION="$2"; shift 2 ;;
    --sandbox-data-dir) need_value "$1" $#; SANDBOX_DIR="$2"; shift 2 ;;
    --publish-method) need_value "$1" $#; PUBLISH_METHOD="$2"; shift 2 ;;
    --package) need_value "$1" $#; PACKAGE_ZIP="$2"; PUBLISH_METHOD=zip; shift 2 ;;
    --skip-infra) SKIP_INFRA=1; shift ;;
    --skip-code) SKIP_CODE=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# ---- validate inputs before touching Azure ------------------------------------------------
[[ "$APPROVAL_THRESHOLD" =~ ^[0-9]+$ ]] || die "--approval-threshold must be a whole number of cents, got '$APPROVAL_THRESHOLD'"
[[ "$APPROVAL_TIMEOUT" =~ ^[0-9]+$ ]] || die "--approval-timeout must be a whole number of hours, got '$APPROVAL_TIMEOUT'"
[[ "$TASK_HUB" =~ ^[A-Za-z][A-Za-z0-9]{2,44}$ ]] || die "--task-hub must be 3-45 letters/digits starting with a letter, got '$TASK_HUB'"
case "$PUBLISH_METHOD" in auto | zip | func) ;; *) die "--publish-method must be auto, zip or func" ;; esac
if [[ -n "$PACKAGE_ZIP" && ! -f "$PACKAGE_ZIP" ]]; then
  die "--package $PACKAGE_ZIP: no such file"
fi
if [[ "$SKIP_INFRA" == 1 && "$SKIP_CODE" == 1 ]]; then
  die "--skip-infra and --skip-code together leave nothing to do"
fi

# ---- preflight: az present and logged in --------------------------------------------------
command -v az >/dev/null 2>&1 || die "the Azure CLI 'az' is not installed or not on PATH.
Install it (https://learn.microsoft.com/cli/azure/install-azure-cli), run 'az login', and retry."

# Never prompt (CI has no terminal); install CLI extensions without asking if one is needed.
export AZURE_CORE_NO_COLOR=1
export AZURE_CORE_ONLY_SHOW_ERRORS=1
export AZURE_EXTENSION_USE_DYNAMIC_INSTALL=yes_without_prompt

if ! az account show --output none >/dev/null 2>&1; then
  die "the Azure CLI is not logged in: 'az account show' failed. Run 'az login' (or azure/login in CI) and retry."
fi
if [[ -n "$SUBSCRIPTION" ]]; then
  az account set --subscription "$SUBSCRIPTION" || die "cannot select subscription '$SUBSCRIPTION'"
fi
SUBSCRIPTION_ID="$(az account show --query id --output tsv)"
[[ -n "$SUBSCRIPTION_ID" ]] || die "could not read the current subscription id (az account show)"
log "subscription $SUBSCRIPTION_ID"

# Deterministic names: the same subscription + resource group give the same names on every run.
token_source="${SUBSCRIPTION_ID}/${RESOURCE_GROUP}"
if command -v sha256sum >/dev/null 2>&1; then
  TOKEN="$(printf '%s' "$token_source" | sha256sum | cut -c1-10)"
else
  TOKEN="$(printf '%s' "$token_source" | shasum -a 256 | cut -c1-10)"
fi
APP_NAME="${APP_NAME:-func-orders-${TOKEN}}"
STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-storders${TOKEN}}"
IDENTITY_NAME="${IDENTITY_NAME:-id-${APP_NAME}}"
APP_INSIGHTS_NAME="${APP_INSIGHTS_NAME:-appi-${APP_NAME}}"
WORKSPACE_NAME="${WORKSPACE_NAME:-log-${APP_NAME}}"
[[ "$STORAGE_ACCOUNT" =~ ^[a-z0-9]{3,24}$ ]] || die "storage account name '$STORAGE_ACCOUNT' must be 3-24 lowercase letters/digits"

# ---- helpers ------------------------------------------------------------------------------
exists() {
  # exists <az args...>: true when `az <args> --output none` succeeds (a `show` that finds it).
  az "$@" --output none >/dev/null 2>&1
}

ensure_role() {
  # ensure_role <principal object id> <role definition guid> <scope> <description>
  local principal="$1" role="$2" scope="$3" what="$4" count attempt
  count="$(az role assignment list --assignee-object-id "$principal" --role "$role" --scope "$scope" \
    --query "length(@)" --output tsv)"
  if [[ "${count:-0}" != "0" ]]; then
    log "role $what: already assigned"
    return 0
  fi
  log "role $what: assigning"
  # A new identity can take a little while to replicate to Entra ID: retry.
  for attempt in 1 2 3 4 5 6; do
    if az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal \
      --role "$role" --scope "$scope" --output none; then
      return 0
    fi
    log "role $what: attempt $attempt failed; retrying in $((attempt * 10)) s"
    sleep $((attempt * 10))
  done
  die "could not assign role $what ($role) on $scope; the deploying identity needs Owner, User Access Administrator or Role Based Access Control Administrator there"
}

provision() {
  # ---- resource group ----
  if exists group show --name "$RESOURCE_GROUP"; then
    log "resource group $RESOURCE_GROUP: exists"
    if [[ -z "$LOCATION" ]]; then
      LOCATION="$(az group show --name "$RESOURCE_GROUP" --query location --output tsv)"
    fi
  else
    [[ -n "$LOCATION" ]] || die "--location is required to create resource group $RESOURCE_GROUP"
    log "resource group $RESOURCE_GROUP: creating in $LOCATION"
    az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --output none
  fi

  # ---- storage: no shared keys, no public blobs ----
  if exists storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP"; then
    log "storage account $STORAGE_ACCOUNT: exists; enforcing no shared-key access"
    az storage account update --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
      --allow-shared-key-access false --allow-blob-public-access false --min-tls-version TLS1_2 --output none
  else
    log "storage account $STORAGE_ACCOUNT: creating"
    az storage account create --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" \
      --location "$LOCATION" --sku Standard_LRS --kind StorageV2 \
      --allow-shared-key-access false --allow-blob-public-access false \
      --min-tls-version TLS1_2 --https-only true --output none
  fi
  STORAGE_ID="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query id --output tsv)"
  BLOB_URI="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query primaryEndpoints.blob --output tsv)"
  QUEUE_URI="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query primaryEndpoints.queue --output tsv)"
  TABLE_URI="$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query primaryEndpoints.table --output tsv)"

  # ---- monitoring ----
  if exists monitor log-analytics workspace show --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "log analytics workspace $WORKSPACE_NAME: exists"
  else
    log "log analytics workspace $WORKSPACE_NAME: creating"
    az monitor log-analytics workspace create --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" \
      --location "$LOCATION" --retention-time 30 --output none
  fi
  WORKSPACE_ID="$(az monitor log-analytics workspace show --workspace-name "$WORKSPACE_NAME" \
    --resource-group "$RESOURCE_GROUP" --query id --output tsv)"

  # Application Insights through the generic resource API (no CLI extension needed).
  if exists resource show --name "$APP_INSIGHTS_NAME" --resource-group "$RESOURCE_GROUP" \
    --resource-type Microsoft.Insights/components; then
    log "application insights $APP_INSIGHTS_NAME: exists"
  else
    log "application insights $APP_INSIGHTS_NAME: creating"
    az resource create --name "$APP_INSIGHTS_NAME" --resource-group "$RESOURCE_GROUP" \
      --resource-type Microsoft.Insights/components --api-version 2020-02-02 --is-full-object \
      --properties "{\"location\": \"${LOCATION}\", \"kind\": \"web\", \"properties\": {\"Application_Type\": \"web\", \"WorkspaceResourceId\": \"${WORKSPACE_ID}\", \"DisableLocalAuth\": true}}" \
      --output none
  fi
  APP_INSIGHTS_ID="$(az resource show --name "$APP_INSIGHTS_NAME" --resource-group "$RESOURCE_GROUP" \
    --resource-type Microsoft.Insights/components --query id --output tsv)"

  # ---- the app's identity and its data-plane roles ----
  if exists identity show --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "managed identity $IDENTITY_NAME: exists"
  else
    log "managed identity $IDENTITY_NAME: creating"
    az identity create --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --output none
  fi
  IDENTITY_ID="$(az identity show --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --query id --output tsv)"
  IDENTITY_CLIENT_ID="$(az identity show --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --query clientId --output tsv)"
  IDENTITY_PRINCIPAL_ID="$(az identity show --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --query principalId --output tsv)"

  ensure_role "$IDENTITY_PRINCIPAL_ID" "$ROLE_STORAGE_BLOB_DATA_OWNER" "$STORAGE_ID" "Storage Blob Data Owner"
  ensure_role "$IDENTITY_PRINCIPAL_ID" "$ROLE_STORAGE_QUEUE_DATA_CONTRIBUTOR" "$STORAGE_ID" "Storage Queue Data Contributor"
  ensure_role "$IDENTITY_PRINCIPAL_ID" "$ROLE_STORAGE_TABLE_DATA_CONTRIBUTOR" "$STORAGE_ID" "Storage Table Data Contributor"
  ensure_role "$IDENTITY_PRINCIPAL_ID" "$ROLE_MONITORING_METRICS_PUBLISHER" "$APP_INSIGHTS_ID" "Monitoring Metrics Publisher"

  # ---- the function app (Flex Consumption, Linux) ----
  if exists functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "function app $APP_NAME: exists"
  else
    log "function app $APP_NAME: creating (Flex Consumption, python $PYTHON_VERSION)"
    az functionapp create --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
      --storage-account "$STORAGE_ACCOUNT" --flexconsumption-location "$LOCATION" \
      --runtime python --runtime-version "$PYTHON_VERSION" --functions-version 4 \
      --instance-memory "$INSTANCE_MEMORY" --maximum-instance-count "$MAX_INSTANCES" \
      --deployment-storage-name "$STORAGE_ACCOUNT" \
      --deployment-storage-auth-type UserAssignedIdentity --deployment-storage-auth-value "$IDENTITY_ID" \
      --app-insights "$APP_INSIGHTS_NAME" --https-only true --output none
  fi

  # ---- app settings: identity-based storage + what the app reads ----
  log "app settings: identity-based storage, monitoring, app configuration"
  az functionapp config appsettings set --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --output none \
    --settings \
    "AzureWebJobsStorage__accountName=${STORAGE_ACCOUNT}" \
    "AzureWebJobsStorage__blobServiceUri=${BLOB_URI}" \
    "AzureWebJobsStorage__queueServiceUri=${QUEUE_URI}" \
    "AzureWebJobsStorage__tableServiceUri=${TABLE_URI}" \
    "AzureWebJobsStorage__credential=managedidentity" \
    "AzureWebJobsStorage__clientId=${IDENTITY_CLIENT_ID}" \
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING=ClientId=${IDENTITY_CLIENT_ID};Authorization=AAD" \
    "TASK_HUB_NAME=${TASK_HUB}" \
    "APPROVAL_THRESHOLD_CENTS=${APPROVAL_THRESHOLD}" \
    "APPROVAL_TIMEOUT_HOURS=${APPROVAL_TIMEOUT}" \
    "PAYMENT_ADAPTER=${PAYMENT}" \
    "CARRIER_ADAPTER=${CARRIER}" \
    "NOTIFICATION_ADAPTER=${NOTIFICATION}" \
    "SANDBOX_DATA_DIR=${SANDBOX_DIR}"
  # `az functionapp create` always writes a key-based AzureWebJobsStorage connection string
  # (useless here: the account refuses shared keys). Remove it so the identity settings apply.
  az functionapp config appsettings delete --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
    --setting-names AzureWebJobsStorage DEPLOYMENT_STORAGE_CONNECTION_STRING --output none
}

deploy_code() {
  exists functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" ||
    die "function app $APP_NAME not found in $RESOURCE_GROUP (run without --skip-infra first)"
  local method="$PUBLISH_METHOD"
  if [[ "$method" == auto ]]; then
    if command -v func >/dev/null 2>&1; then method=func; else method=zip; fi
  fi
  if [[ "$method" == func ]]; then
    command -v func >/dev/null 2>&1 || die "--publish-method func needs Azure Functions Core Tools ('func') on PATH"
    log "publishing with Core Tools (remote build)"
    (cd "$REPO_ROOT" && func azure functionapp publish "$APP_NAME" --python --build remote)
  else
    local zip="$PACKAGE_ZIP"
    if [[ -z "$zip" ]]; then
      command -v "$PYTHON_BIN" >/dev/null 2>&1 || die "'$PYTHON_BIN' not found; it builds the zip (scripts/package.py). Set PYTHON=..."
      zip="${REPO_ROOT}/dist/app.zip"
      log "packaging $zip (honouring .funcignore)"
      "$PYTHON_BIN" "${REPO_ROOT}/scripts/package.py" --root "$REPO_ROOT" --output "$zip"
    fi
    # On Flex Consumption this is a One Deploy with RemoteBuild=true: the platform runs
    # pip install -r requirements.txt (the Flex equivalent of SCM_DO_BUILD_DURING_DEPLOYMENT=true,
    # an app setting that Flex Consumption does not accept).
    log "zip deploy of $zip with remote build"
    az functionapp deployment source config-zip --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" \
      --src "$zip" --build-remote true --timeout 900 --output none
  fi

  local host
  host="$(az functionapp show --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query defaultHostName --output tsv)"
  log "functions registered in $APP_NAME:"
  az functionapp function list --name "$APP_NAME" --resource-group "$RESOURCE_GROUP" --query "[].name" --output tsv >&2 || true
  log "deployed: https://${host}"
}

if [[ "$SKIP_INFRA" == 0 ]]; then
  provision
fi
if [[ "$SKIP_CODE" == 0 ]]; then
  deploy_code
fi
log "done: resource group $RESOURCE_GROUP, function app $APP_NAME, storage $STORAGE_ACCOUNT"
