using System.Reflection;
using System.Text.RegularExpressions;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Store;
using IwSft.Runtime.Tests.CodeFixtures;

namespace IwSft.Runtime.Tests;

/// <summary>What a code identity covers (<see cref="CodeIdentity.Reach"/>): each kind of reference it follows, and where it stops.</summary>
public class CodeIdentityReachTests
{
    static MethodInfo M(Type t, string name) => t.GetMethod(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance)!;
    static IReadOnlyList<string> FromMethod(string name) => CodeIdentity.Reach([], [M(typeof(Roots), name)]);
    static bool Has(IReadOnlyList<string> reached, Type t, string member) => reached.Contains($"{t}::{member}");

    [Fact]
    public void A_root_method_reaches_itself_and_what_it_names_but_not_its_siblings()
    {
        var reached = FromMethod(nameof(Roots.Typeof));
        Assert.Contains($"{typeof(Roots)}::System.Type Typeof()", reached);
        Assert.True(Has(reached, typeof(OnlyByTypeof), "Int32 M()"));
        Assert.DoesNotContain(reached, m => m.Contains("Unrelated") || m.Contains("ArrayElement"));
    }

    [Fact]
    public void Generic_arguments_array_elements_and_typeof_are_followed()
    {
        Assert.True(Has(FromMethod(nameof(Roots.GenericArgument)), typeof(OnlyAsGenericArgument), "Int32 M()"));
        Assert.True(Has(FromMethod(nameof(Roots.ArrayElement)), typeof(OnlyAsArrayElement), "Int32 M()"));
        Assert.True(Has(FromMethod(nameof(Roots.OwnerArgument)), typeof(OnlyAsOwnerArgument), "Int32 M()"));
        Assert.True(Has(FromMethod(nameof(Roots.StaticFieldOwnerArgument)), typeof(OnlyAsStaticFieldOwnerArgument), "Int32 M()"));
        Assert.True(Has(FromMethod(nameof(Roots.MethodArgument)), typeof(OnlyAsMethodArgument), "Int32 M()"));
    }

    [Fact]
    public void Calls_from_a_generic_method_are_followed_through_its_type_parameters()
    {
        var reached = FromMethod(nameof(Roots.OpenGenericMethod));
        Assert.Contains(reached, m => m.StartsWith($"{typeof(GenericUse)}::Int32 Use[", StringComparison.Ordinal));
    }

    [Fact]
    public void Methods_of_constructed_generic_types_are_listed_once_in_their_open_form()
    {
        var reached = FromMethod(nameof(Roots.BoxGet));
        Assert.Contains($"{typeof(Box<>)}::T Get()", reached);
        Assert.DoesNotContain(reached, m => m.Contains("System.Int32]::", StringComparison.Ordinal));
        Assert.Equal(reached.Count, reached.Distinct().Count());
    }

    [Fact]
    public void An_instantiated_type_brings_all_its_methods_so_virtual_calls_count()
    {
        var reached = FromMethod(nameof(Roots.Virtual));
        Assert.True(Has(reached, typeof(Instantiated), "System.String ToString()"));
        Assert.True(Has(reached, typeof(OnlyFromVirtual), "System.String Name()"));
    }

    [Fact]
    public void A_root_type_brings_its_constructors_static_initializer_and_nested_types()
    {
        var ctor = CodeIdentity.Reach([typeof(CtorCallsHelper)]);
        Assert.True(Has(ctor, typeof(CtorCallsHelper), "Void .ctor()"));
        Assert.True(Has(ctor, typeof(OnlyFromCtor), "Int32 Value()"));

        var cctor = CodeIdentity.Reach([typeof(WithStaticInitializer)]);
        Assert.True(Has(cctor, typeof(WithStaticInitializer), "Void .cctor()"));
        Assert.True(Has(cctor, typeof(OnlyFromCctor), "Int32 Value()"));

        var outer = CodeIdentity.Reach([typeof(Outer)]);
        Assert.Contains(outer, m => m.StartsWith(typeof(Outer) + "+PrivateNested::Int32 N()", StringComparison.Ordinal));
        Assert.True(Has(outer, typeof(Outer.PublicNested), "Int32 N()"));
        Assert.True(Has(outer, typeof(OnlyFromNested), "Int32 Value()"));
    }

    [Fact]
    public void A_derived_type_brings_its_base_and_self_references_terminate()
    {
        var self = CodeIdentity.Reach([typeof(SelfReferencing)]);
        Assert.True(Has(self, typeof(SelfReferencing), "Int32 Own()"));
        Assert.True(Has(self, typeof(GenericBase<>), "Int32 Base()"));
        var nested = CodeIdentity.Reach([typeof(OuterWithDerivedNested)]);
        Assert.True(Has(nested, typeof(OuterWithDerivedNested), "Int32 M()"));
        Assert.True(Has(nested, typeof(OuterWithDerivedNested.Inner), "Int32 N()"));
        Assert.Equal(CodeIdentity.OfType(typeof(SelfReferencing)), CodeIdentity.OfType(typeof(SelfReferencing)));
    }

    [Fact]
    public void Async_state_machines_and_lambdas_are_followed()
    {
        Assert.True(Has(CodeIdentity.Reach([typeof(AsyncOwner)]), typeof(OnlyFromAsync), "Int32 Value()"));
        // A lambda given as a root brings the compiler-generated class it lives in (the other lambdas compiled with it).
        var lambda = CodeIdentity.Reach([], [Lambdas.First().Method]);
        Assert.Contains(lambda, m => m.Contains("<First>", StringComparison.Ordinal));
        Assert.Contains(lambda, m => m.Contains("<Second>", StringComparison.Ordinal));
        Assert.DoesNotContain(lambda, m => m.StartsWith(typeof(Lambdas) + "::", StringComparison.Ordinal));
    }

    [Fact]
    public void Only_identity_assemblies_are_followed_and_the_engine_never()
    {
        var reached = CodeIdentity.Reach([typeof(Roots)]);
        Assert.Contains($"{typeof(Roots)}::Int32 Unrelated()", reached);
        Assert.All(reached, m => Assert.StartsWith("IwSft.Runtime.Tests.", m, StringComparison.Ordinal));

        // An engine type contributes nothing of its own; the generic arguments it is given still count.
        Assert.Empty(CodeIdentity.Reach([typeof(Hashing)]));
        var config = CodeIdentity.Reach([typeof(Stage<NestedConfig>)]);
        Assert.True(Has(config, typeof(NestedConfig), "Int64 get_Top()"));
        Assert.True(Has(config, typeof(InnerConfig), "Int64 get_Depth()"));
        Assert.All(config, m => Assert.StartsWith("IwSft.Runtime.Tests.", m, StringComparison.Ordinal));

        // A root method outside IwSft.* makes its own assembly count (as a delegate from a user's script would).
        var max = typeof(Math).GetMethod(nameof(Math.Max), [typeof(int), typeof(int)])!;
        Assert.Contains("System.Math::Int32 Max(Int32, Int32)", CodeIdentity.Reach([], [max]));
    }

    [Fact]
    public void Reach_is_sorted_and_the_manifest_lists_the_same_methods_with_their_hashes()
    {
        var reached = CodeIdentity.Reach([typeof(Roots)]);
        Assert.True(reached.Count > 10);
        Assert.Equal(reached.Order(StringComparer.Ordinal), reached);

        var manifest = CodeIdentity.Manifest([typeof(Roots)]);
        Assert.Equal(manifest.Order(StringComparer.Ordinal), manifest);
        var line = new Regex("^(.+) ([0-9a-f]{64})$");
        Assert.All(manifest, l => Assert.Matches(line, l));
        Assert.Equal(reached, manifest.Select(l => line.Match(l).Groups[1].Value));
        // The identity is the hash of the manifest: equal manifests, equal identities.
        Assert.Equal(Hashing.Sha256Hex(string.Concat(manifest.Select(l => l + "\n"))), CodeIdentity.OfType(typeof(Roots)));
        Assert.Equal(CodeIdentity.OfType(typeof(Roots)), CodeIdentity.Of([typeof(Roots), typeof(Roots)]));
    }
}
