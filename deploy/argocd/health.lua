-- Health of qualys-operator.io objects, from their Ready condition.
-- Healthy: Ready=True for the current generation. Degraded: Ready=False for a
-- reason no retry fixes (the operator's terminal reasons, and ObserveOnly
-- objects that differ from Qualys). Suspended: paused. Progressing: anything
-- else, the operator is working on it or retrying.
local hs = {}
local needsAPerson = {
  CredentialsInvalid = true,
  InvalidSpec = true,
  Conflict = true,
  DriftDetected = true,
  NotFound = true,
}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted; the deletionPolicy applies in Qualys"
  return hs
end
local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a Ready condition"
  return hs
end
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = ready.observedGeneration
if observed == nil and obj.status.observedGeneration ~= nil then
  observed = obj.status.observedGeneration
end
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. tostring(generation)
  return hs
end
hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
if ready.reason == "Paused" then
  hs.status = "Suspended"
elseif ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and needsAPerson[ready.reason] then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
