// Durable Orders: Azure infrastructure (Azure Developer CLI entry point).
//
//   azd up                                   (reads infra/main.parameters.json)
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name>
//
// Creates one resource group and, inside it (infra/app/resources.bicep), a Flex Consumption
// Function App for Python 3.11 whose storage is reached only through a user-assigned
// managed identity (no keys, no connection strings), plus Application Insights.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name the resource group and derive resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. It must offer the Flex Consumption plan.')
param location string

@description('Resource group name; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@description('Function App name (globally unique); empty derives one from the environment.')
param functionAppName string = ''

@description('Durable Functions task hub name (letters and digits, 3-45 characters, starting with a letter).')
param taskHubName string = 'DurableOrdersHub'

// The two numbers are strings so that azd can fill them from environment variables
// (main.parameters.json); int() below rejects a non-numeric value before anything is deployed.
@description('APPROVAL_THRESHOLD_CENTS: orders whose total (in cents) is above this need a human approval.')
param approvalThresholdCents string = '100000'

@description('APPROVAL_TIMEOUT_HOURS: how long an order waits for the approval decision.')
param approvalTimeoutHours string = '72'

@description('Payment gateway adapter (PAYMENT_ADAPTER): sandbox, the built-in test gateway.')
param paymentAdapter string = 'sandbox'

@description('Shipping carrier adapter (CARRIER_ADAPTER): sandbox, the built-in test carrier.')
param carrierAdapter string = 'sandbox'

@description('Notification adapter (NOTIFICATION_ADAPTER): outbox (default) or log.')
param notificationAdapter string = 'outbox'

@description('Writable directory for the sandbox adapters (on Flex Consumption only /tmp is writable).')
param sandboxDataDir string = '/tmp/durable-orders-sandbox'

@minValue(40)
@maxValue(1000)
@description('Upper bound on the number of instances the app scales out to.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance in MB.')
param instanceMemoryMB int = 2048

var abbrs = {
  resourceGroup: 'rg-'
}
var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? '${abbrs.resourceGroup}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module app 'app/resources.bicep' = {
  name: 'durable-orders-resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    functionAppName: functionAppName
    taskHubName: taskHubName
    approvalThresholdCents: int(approvalThresholdCents)
    approvalTimeoutHours: int(approvalTimeoutHours)
    paymentAdapter: paymentAdapter
    carrierAdapter: carrierAdapter
    notificationAdapter: notificationAdapter
    sandboxDataDir: sandboxDataDir
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

// azd reads these outputs into the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output SERVICE_API_NAME string = app.outputs.functionAppName
output SERVICE_API_URI string = app.outputs.functionAppUri
output AZURE_STORAGE_ACCOUNT_NAME string = app.outputs.storageAccountName
output APPLICATIONINSIGHTS_NAME string = app.outputs.applicationInsightsName
