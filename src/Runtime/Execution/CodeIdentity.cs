using System.Collections.Concurrent;
using System.Reflection;
using System.Reflection.Emit;
using System.Security.Cryptography;
using System.Text;

namespace IwSft.Runtime.Execution;

/// <summary>
/// The identity of the code that implements a stage, derived from the compiled IL (no hand-bumped versions).
/// Starting from the methods of the stage's type (and of the objects and delegates it was given), it follows
/// every method called, every delegate created and every type instantiated, within the identity assemblies
/// (the stage's own and every <c>IwSft.*</c> assembly except the engine, <c>IwSft.Runtime</c>), and hashes the
/// IL of all reached methods with metadata tokens replaced by the names they stand for. So a change to a stage
/// kind, or to a helper it calls (grader, tokenizer, model code), changes that stage's identity; a change to
/// code it cannot reach does not. Interface and virtual calls are covered through the types that the code
/// instantiates or is given (all their methods count), and generic arguments of identity types count too.
/// </summary>
public static class CodeIdentity
{
    const string Engine = "IwSft.Runtime";
    static readonly ConcurrentDictionary<MethodBase, MethodFacts> Facts = new();
    static readonly ConcurrentDictionary<string, string> ClosureCache = new(StringComparer.Ordinal);
    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>Hash (64 hex) of the code reachable from <paramref name="roots"/>' methods and <paramref name="methods"/>.</summary>
    public static string Of(IEnumerable<Type> roots, IEnumerable<MethodBase>? methods = null)
    {
        var rootTypes = roots.Distinct().ToList();
        var rootMethods = (methods ?? []).Select(Definition).Distinct().ToList();
        var cacheKey = string.Join("|", rootTypes.Select(t => t.AssemblyQualifiedName).Order(StringComparer.Ordinal))
                       + "#" + string.Join("|", rootMethods.Select(Describe).Order(StringComparer.Ordinal));
        return ClosureCache.GetOrAdd(cacheKey, _ => Compute(rootTypes, rootMethods));
    }

    /// <summary>The methods (as "Type::Signature") that <see cref="Of"/> hashes for these roots, sorted: what a stage's identity covers.</summary>
    public static IReadOnlyList<string> Reach(IEnumerable<Type> roots, IEnumerable<MethodBase>? methods = null) =>
        Closure(roots.Distinct().ToList(), (methods ?? []).Select(Definition).Distinct().ToList()).Select(Describe).Order(StringComparer.Ordinal).ToList();

    /// <summary>"Type::Signature ILHASH" for each method <see cref="Of"/> hashes: what to compare when two builds disagree.</summary>
    public static IReadOnlyList<string> Manifest(IEnumerable<Type> roots) =>
        Closure(roots.Distinct().ToList(), []).Select(m => Describe(m) + " " + Facts.GetOrAdd(m, Read).Hash).Order(StringComparer.Ordinal).ToList();

    /// <summary>Hash of the code of one type (its methods and what they reach).</summary>
    public static string OfType(Type type) => Of([type]);

    static string Compute(List<Type> rootTypes, List<MethodBase> rootMethods)
    {
        var sb = new StringBuilder();
        foreach (var line in Closure(rootTypes, rootMethods).Select(m => Describe(m) + " " + Facts.GetOrAdd(m, Read).Hash).Order(StringComparer.Ordinal))
            sb.Append(line).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    static HashSet<MethodBase> Closure(List<Type> rootTypes, List<MethodBase> rootMethods)
    {
        var identityAssemblies = new HashSet<Assembly>(rootTypes.Select(t => t.Assembly).Concat(rootMethods.Select(m => m.Module.Assembly))
            .Where(a => a.GetName().Name != Engine));
        bool Counts(Type? t) => t is not null && (identityAssemblies.Contains(t.Assembly) || IsIwSft(t.Assembly));

        var seenMethods = new HashSet<MethodBase>();
        var seenTypes = new HashSet<Type>();
        var queue = new Queue<MethodBase>();
        void AddMethod(MethodBase m)
        {
            m = Definition(m);
            if (Counts(m.DeclaringType) && seenMethods.Add(m)) queue.Enqueue(m);
        }
        void AddType(Type t)
        {
            if (t.IsGenericType && !t.IsGenericTypeDefinition) { foreach (var a in t.GetGenericArguments()) AddType(a); t = t.GetGenericTypeDefinition(); }
            if (t.HasElementType) { AddType(t.GetElementType()!); return; }
            if (t.IsGenericParameter || !Counts(t) || !seenTypes.Add(t)) return;
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var m in t.GetMethods(all)) AddMethod(m);
            foreach (var c in t.GetConstructors(all)) AddMethod(c);
            // Stryker disable once Statement : GetConstructors(all) includes Static, so it already returns the type initializer
            if (t.TypeInitializer is { } cctor) AddMethod(cctor);
            if (t.BaseType is { } b) AddType(b);
            foreach (var n in t.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic)) AddType(n);
        }

        foreach (var t in rootTypes) AddType(t);
        foreach (var m in rootMethods) { AddMethod(m); if (m.DeclaringType is { } d && IsCompilerGenerated(d)) AddType(d); }
        while (queue.Count > 0)
        {
            var facts = Facts.GetOrAdd(queue.Dequeue(), Read);
            foreach (var m in facts.Calls) AddMethod(m);
            foreach (var t in facts.Types) AddType(t);
        }
        return seenMethods;
    }

    static bool IsIwSft(Assembly a) => a.GetName().Name is { } n && n.StartsWith("IwSft.", StringComparison.Ordinal) && n != Engine;

    static bool IsCompilerGenerated(Type t) => t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute), false);

    /// <summary>The open, declared form of a method (generic instantiations and constructed declaring types removed).</summary>
    static MethodBase Definition(MethodBase m)
    {
        if (m is MethodInfo { IsGenericMethod: true } gm && !gm.IsGenericMethodDefinition) m = gm.GetGenericMethodDefinition();
        if (m.DeclaringType is { IsGenericType: true, IsGenericTypeDefinition: false }) m = m.Module.ResolveMethod(m.MetadataToken)!;
        return m;
    }

    static string Describe(MemberInfo m) => m switch
    {
        Type t => t.ToString(),
        _ => $"{m.DeclaringType}::{m}",
    };

    sealed record MethodFacts(string Hash, List<MethodBase> Calls, List<Type> Types);

    /// <summary>Normalised IL of one method (tokens as the names they stand for) and what it references.</summary>
    static MethodFacts Read(MethodBase method)
    {
        var calls = new List<MethodBase>();
        var types = new List<Type>();
        var text = new StringBuilder(Describe(method)).Append('\n');
        MethodBody? body;
        try { body = method.GetMethodBody(); } catch (Exception) { body = null; }
        var il = body?.GetILAsByteArray();
        // Stryker disable once Logical : il is null exactly when body is, so '&&' decides the same
        if (body is null || il is null) return new MethodFacts(Hash(text), calls, types);

        foreach (var local in body.LocalVariables) { text.Append("local ").Append(local.LocalType).Append(local.IsPinned ? " pinned" : "").Append('\n'); types.Add(local.LocalType); }
        foreach (var clause in body.ExceptionHandlingClauses)
        {
            text.Append($"try {clause.Flags} {clause.TryOffset} {clause.TryLength} {clause.HandlerOffset} {clause.HandlerLength} ");
            if (clause.Flags == ExceptionHandlingClauseOptions.Clause) text.Append(clause.CatchType);
            else if (clause.Flags == ExceptionHandlingClauseOptions.Filter) text.Append(clause.FilterOffset);
            text.Append('\n');
        }
        var typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        var methodArgs = method is MethodInfo { IsGenericMethod: true } ? method.GetGenericArguments() : null;
        var module = method.Module;
        int pos = 0;
        while (pos < il.Length)
        {
            short value = il[pos++];
            if (value == 0xFE) value = unchecked((short)(0xFE00 | il[pos++]));
            if (!OpCodesByValue.TryGetValue(value, out var op)) { text.Append("?").Append(value).Append('\n'); continue; }
            text.Append(op.Name);
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    text.Append(' ').Append(il[pos]); pos += 1; break;
                case OperandType.InlineVar:
                    text.Append(' ').Append(BitConverter.ToUInt16(il, pos)); pos += 2; break;
                case OperandType.InlineI or OperandType.InlineBrTarget or OperandType.ShortInlineR:
                    text.Append(' ').Append(BitConverter.ToInt32(il, pos)); pos += 4; break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    text.Append(' ').Append(BitConverter.ToInt64(il, pos)); pos += 8; break;
                case OperandType.InlineSwitch:
                    int n = BitConverter.ToInt32(il, pos); pos += 4;
                    for (int i = 0; i < n; i++, pos += 4) text.Append(' ').Append(BitConverter.ToInt32(il, pos));
                    break;
                case OperandType.InlineString:
                    text.Append(" \"").Append(module.ResolveString(BitConverter.ToInt32(il, pos))).Append('"'); pos += 4; break;
                case OperandType.InlineSig:
                    text.Append(" sig"); pos += 4; break;
                default: // InlineMethod, InlineField, InlineType, InlineTok
                    int token = BitConverter.ToInt32(il, pos); pos += 4;
                    MemberInfo? member;
                    try { member = module.ResolveMember(token, typeArgs, methodArgs); } catch (Exception) { member = null; }
                    text.Append(' ').Append(member is null ? "?" : Describe(member));
                    switch (member)
                    {
                        case MethodBase m:
                            calls.Add(m);
                            if (m.DeclaringType is { } owner) { types.AddRange(owner.GetGenericArguments()); if (m is ConstructorInfo) types.Add(owner); }
                            if (m is MethodInfo { IsGenericMethod: true } g) types.AddRange(g.GetGenericArguments());
                            break;
                        case FieldInfo f when f.IsStatic && f.DeclaringType is { } ft:
                            if (ft.TypeInitializer is { } init) calls.Add(init);
                            types.AddRange(ft.GetGenericArguments());
                            break;
                        case Type t:
                            types.Add(t);
                            break;
                    }
                    break;
            }
            text.Append('\n');
        }
        return new MethodFacts(Hash(text), calls, types);
    }

    static string Hash(StringBuilder text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
}
