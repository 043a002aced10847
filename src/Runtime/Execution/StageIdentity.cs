using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

namespace IwSft.Runtime.Execution;

/// <summary>
/// What a stage is beyond its configuration: the identity of its code (<see cref="CodeIdentity"/>, from the
/// stage's type and everything it was given) and the identity of its injected behaviour (the
/// <see cref="InKeyAttribute"/> fields). Both go into the stage's cache key.
/// </summary>
public sealed record StageIdentity(string Code, string ComputedCode, string? AliasReason, JsonObject Behaviour)
{
    const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    public static StageIdentity Of(Stage stage)
    {
        var types = new List<Type> { stage.GetType() };
        var methods = new List<MethodBase>();
        var behaviour = new JsonObject();
        foreach (var f in StateFields(stage.GetType()).Where(f => f.IsDefined(typeof(InKeyAttribute))))
        {
            var value = f.GetValue(stage);
            if (value is null && f.GetCustomAttribute<InKeyAttribute>()!.OmitWhenNull) continue;
            try { behaviour[FieldName(f)] = Describe(value, types, methods, 0); }
            catch (InvalidOperationException e) { throw new InvalidOperationException($"stage '{stage.Name}' ({stage.Kind}) field {f.Name}: {e.Message}", e); }
        }
        var computed = CodeIdentity.Of(types, methods);
        var (code, reason) = ApplyAlias(computed, stage.GetType().GetCustomAttributes<CodeIdentityAliasAttribute>());
        return new StageIdentity(code, computed, reason, behaviour);
    }

    /// <summary>The identity a key uses: an alias's, while the computed identity starts with its (12+ hex) prefix.</summary>
    public static (string Code, string? Reason) ApplyAlias(string computed, IEnumerable<CodeIdentityAliasAttribute> aliases)
    {
        var alias = aliases.FirstOrDefault(a => a.Computed.Length >= 12 && computed.StartsWith(a.Computed, StringComparison.Ordinal));
        return alias is null ? (computed, null) : (alias.Keep, alias.Reason);
    }

    /// <summary>Instance fields a stage kind declares (its own and its bases' outside the engine): its state besides the configuration.</summary>
    public static IEnumerable<FieldInfo> StateFields(Type stageType)
    {
        for (var t = stageType; t is not null && t.Assembly != typeof(Stage).Assembly; t = t.BaseType)
            foreach (var f in t.GetFields(InstanceFields)) yield return f;
    }

    /// <summary>State fields that carry neither <see cref="InKeyAttribute"/> nor <see cref="NotInKeyAttribute"/>.</summary>
    public static IEnumerable<FieldInfo> UndecidedFields(Type stageType) =>
        StateFields(stageType).Where(f => !f.IsDefined(typeof(InKeyAttribute)) && !f.IsDefined(typeof(NotInKeyAttribute)) && !IsPortList(f));

    /// <summary>Backing fields of the Inputs/Outputs overrides: structure, whose bound artifacts are key inputs.</summary>
    static bool IsPortList(FieldInfo f) => f.Name is "<Inputs>k__BackingField" or "<Outputs>k__BackingField";

    static string FieldName(FieldInfo f) =>
        f.Name.StartsWith('<') && f.Name.IndexOf('>') is > 1 and var end ? f.Name[1..end] : f.Name.TrimStart('_');

    static JsonNode? Describe(object? value, List<Type> types, List<MethodBase> methods, int depth)
    {
        if (depth > 8) throw new InvalidOperationException("value nests deeper than 8 levels; give it an IKeyIdentity");
        switch (value)
        {
            case null: return null;
            case string or bool or char: return JsonValue.Create(value.ToString());
            case Enum e: return JsonValue.Create(e.ToString());
            case byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal:
                return JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(value));
            case IKeyIdentity k:
                types.Add(k.GetType());
                return new JsonObject { ["type"] = k.GetType().ToString(), ["identity"] = k.KeyIdentity() };
            case Delegate d:
                var calls = new JsonArray();
                foreach (var part in d.GetInvocationList())
                {
                    methods.Add(part.Method);
                    calls.Add(new JsonObject
                    {
                        ["method"] = $"{part.Method.DeclaringType}::{part.Method}",
                        ["target"] = part.Target is null ? null : Describe(part.Target, types, methods, depth + 1),
                    });
                }
                return calls;
            case IDictionary map:
                var entries = new JsonObject();
                foreach (DictionaryEntry kv in map) entries[kv.Key.ToString() ?? ""] = Describe(kv.Value, types, methods, depth + 1);
                return entries;
            case IEnumerable items:
                var array = new JsonArray();
                foreach (var x in items) array.Add(Describe(x, types, methods, depth + 1));
                return array;
        }
        var type = value.GetType();
        // Closures, tuples and records are plain data: their fields are their identity.
        bool plainData = type.IsDefined(typeof(CompilerGeneratedAttribute)) || type.FullName?.StartsWith("System.ValueTuple", StringComparison.Ordinal) == true
                         || type.GetMethod("<Clone>$") is not null || (type.IsValueType && type.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null);
        if (!plainData)
            throw new InvalidOperationException($"{type} is neither plain data nor IKeyIdentity: implement IKeyIdentity to say which of its settings decide results");
        types.Add(type);
        var fields = new JsonObject();
        foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).OrderBy(f => f.Name, StringComparer.Ordinal))
            fields[FieldName(f)] = Describe(f.GetValue(value), types, methods, depth + 1);
        return new JsonObject { ["type"] = type.ToString(), ["fields"] = fields };
    }
}
